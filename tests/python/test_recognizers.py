"""Unit tests of the Python SDK's recognisers (sdk/python/turnbox_recognizers.py):
numbers by locale, choices, yes/no and dates, on the host's own CPython
(they make no host calls). Run by tests/e2e/dialogs_python.rs, or by hand:

    python3 -B tests/python/test_recognizers.py

The expected values are the meanings a reader gives these words, written
out by hand; the prompts that use the recognisers are checked end to end
by replaying botbuilder-dotnet's transcripts (tests/e2e/dialogs_python.rs).
"""

import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sdk", "python"))
from turnbox_recognizers import (  # noqa: E402
    recognize_boolean, recognize_choice, recognize_datetime, recognize_number)


class Numbers(unittest.TestCase):
    def test_plain_and_signed(self):
        self.assertEqual(recognize_number("42"), 42)
        self.assertEqual(recognize_number("-7"), -7)
        self.assertEqual(recognize_number("I am 42 years old"), 42)

    def test_separators_follow_the_locale(self):
        self.assertEqual(recognize_number("1,234.5", "en-US"), 1234.5)
        self.assertEqual(recognize_number("1.234,5", "de-DE"), 1234.5)
        self.assertEqual(recognize_number("1 234,5", "fr-FR"), 1234.5)
        self.assertEqual(recognize_number("1,234", "en-US"), 1234)
        self.assertEqual(recognize_number("1,5", "de-DE"), 1.5)
        self.assertEqual(recognize_number("42,0", "de-DE"), 42)
        self.assertIsInstance(recognize_number("42,0", "de-DE"), int)

    def test_the_other_locales_separators_are_not_a_number(self):
        self.assertIsNone(recognize_number("1,5", "en-US"))
        self.assertIsNone(recognize_number("42,0", "en-GB"))

    def test_english_words(self):
        self.assertEqual(recognize_number("One"), 1)
        self.assertEqual(recognize_number("twenty-one"), 21)
        self.assertEqual(recognize_number("a hundred and five"), 105)
        self.assertEqual(recognize_number("three thousand"), 3000)

    def test_no_number(self):
        for text in ("hello", "", "apple", "1.2.3.4.5x"):
            self.assertIsNone(recognize_number(text), text)


class Choices(unittest.TestCase):
    COLOURS = ["red", "green", "blue"]

    def test_by_value_ignoring_case(self):
        self.assertEqual(recognize_choice("Red", self.COLOURS).index, 0)
        self.assertEqual(recognize_choice("BLUE", self.COLOURS).value, "blue")

    def test_by_position(self):
        self.assertEqual(recognize_choice("3", self.COLOURS).value, "blue")
        self.assertEqual(recognize_choice("the second one", self.COLOURS).value, "green")
        self.assertIsNone(recognize_choice("4", self.COLOURS))

    def test_within_a_sentence_and_by_synonym(self):
        self.assertEqual(recognize_choice("I'd like green please", self.COLOURS).value, "green")
        found = recognize_choice("crimson", self.COLOURS, [["crimson", "scarlet"], [], []])
        self.assertEqual((found.value, found.synonym), ("red", "crimson"))

    def test_whole_words_only(self):
        self.assertIsNone(recognize_choice("redundant", self.COLOURS))
        self.assertIsNone(recognize_choice("cat", self.COLOURS))


class YesNo(unittest.TestCase):
    def test_english(self):
        for text in ("yes", "Yeah", "sure thing", "OK"):
            self.assertIs(recognize_boolean(text), True, text)
        for text in ("no", "Nope", "nah"):
            self.assertIs(recognize_boolean(text), False, text)

    def test_other_locales(self):
        self.assertIs(recognize_boolean("Ja", "de-DE"), True)
        self.assertIs(recognize_boolean("nein", "de-DE"), False)
        self.assertIs(recognize_boolean("oui", "fr-FR"), True)
        self.assertIs(recognize_boolean("yes", "fr-FR"), True)

    def test_neither_or_both(self):
        self.assertIsNone(recognize_boolean("hello"))
        self.assertIsNone(recognize_boolean("yes and no"))


class Dates(unittest.TestCase):
    TODAY = datetime.date(2018, 7, 18)

    def one(self, text):
        found = recognize_datetime(text, self.TODAY)
        self.assertEqual(len(found), 1, text)
        return found[0].timex, found[0].value

    def test_iso(self):
        self.assertEqual(self.one("2018-12-05"), ("2018-12-05", "2018-12-05"))
        self.assertEqual(self.one("on 2018-12-05T09:30"), ("2018-12-05T09:30", "2018-12-05 09:30:00"))

    def test_relative_days(self):
        self.assertEqual(self.one("today"), ("2018-07-18", "2018-07-18"))
        self.assertEqual(self.one("tomorrow at 2pm"), ("2018-07-19T14", "2018-07-19 14:00:00"))
        self.assertEqual(self.one("yesterday"), ("2018-07-17", "2018-07-17"))

    def test_month_names(self):
        self.assertEqual(self.one("5th December 2018 at 9am"), ("2018-12-05T09", "2018-12-05 09:00:00"))
        self.assertEqual(self.one("December 5, 2018"), ("2018-12-05", "2018-12-05"))
        self.assertEqual(self.one("Dec 5"), ("XXXX-12-05", "2018-12-05"))
        self.assertEqual(self.one("3 March"), ("XXXX-03-03", "2019-03-03"), "the next 3 March")

    def test_a_date_that_does_not_exist(self):
        self.assertEqual(self.one("31 February 2018"), ("2018-02-31", "not resolved"))

    def test_not_recognised(self):
        for text in ("cat", "Wednesday", "next week", "12/05/2018", "May I?"):
            self.assertEqual(recognize_datetime(text, self.TODAY), [], text)


if __name__ == "__main__":
    unittest.main()
