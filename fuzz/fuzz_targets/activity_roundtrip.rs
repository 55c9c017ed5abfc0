//! Any body the ingress accepts as an activity survives the trip to the
//! WIT record and back: the JSON before and after is the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnbox::schema::activity::Activity;
use turnbox::schema::bindings::turnbox::bot::types as wit;

fuzz_target!(|data: &[u8]| {
    let Ok(activity) = Activity::from_json_bytes(data) else {
        return;
    };
    let record = wit::Activity::from(&activity);
    let back = Activity::try_from(record).expect("a record made by the host converts back");
    let before = serde_json::to_value(&activity).expect("an activity serialises");
    let after = serde_json::to_value(&back).expect("an activity serialises");
    assert_eq!(before, after);
});
