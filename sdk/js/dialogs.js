// turnbox guest SDK for JavaScript: the dialog stack, in botbuilder-dialogs'
// shape and names (DialogSet, DialogContext, WaterfallDialog,
// ComponentDialog). Prompts are in prompts.js.
//
//   import { DialogSet, WaterfallDialog, DialogTurnStatus } from './dialogs.js';
//   const dialogs = new DialogSet(conversationState.createProperty('dialogState'));
//   dialogs.add(new WaterfallDialog('main', [step1, step2]));
//   bot.onMessage(async (ctx) => {
//     const dc = await dialogs.createContext(ctx);
//     const result = await dc.continueDialog();
//     if (result.status === DialogTurnStatus.empty) await dc.beginDialog('main');
//   });
//
// The stack lives in the state property given to the DialogSet and is
// written back after every change, so the host commits it with the turn:
// a turn re-run after a state conflict starts from the committed stack and
// resumes the same step. Dialog objects hold definitions only, never
// per-turn data, so they may live at module level on warm instances.

import { log } from './turnbox.js';

/** How a dialog turn ended. */
export const DialogTurnStatus = Object.freeze({
  /** No dialog was active. */
  empty: 'empty',
  /** The active dialog waits for the user's next message. */
  waiting: 'waiting',
  /** The last dialog on the stack ended; `result` is its result. */
  complete: 'complete',
  /** The dialogs were cancelled. */
  cancelled: 'cancelled',
});

/** Why a dialog's endDialog or resumeDialog was called. */
export const DialogReason = Object.freeze({
  beginCalled: 'beginCalled',
  continueCalled: 'continueCalled',
  endCalled: 'endCalled',
  replaceCalled: 'replaceCalled',
  cancelCalled: 'cancelCalled',
  nextCalled: 'nextCalled',
});

/** The base of every dialog; `id` names it in its DialogSet. */
export class Dialog {
  /** @param {string} dialogId */
  constructor(dialogId) {
    if (typeof dialogId !== 'string' || !dialogId) throw new TypeError('a dialog needs a non-empty string id');
    this.id = dialogId;
  }

  /** The turn result of a dialog that waits for the next message. */
  static get EndOfTurn() {
    return { status: DialogTurnStatus.waiting };
  }

  /** Starts the dialog (it is already on the stack). @abstract */
  // eslint-disable-next-line no-unused-vars
  async beginDialog(dc, options) {
    throw new Error(`${this.constructor.name} '${this.id}' does not implement beginDialog`);
  }

  /** A message arrived while the dialog is active; by default it ends. */
  async continueDialog(dc) {
    return dc.endDialog();
  }

  /** A child dialog ended with `result`; by default this one ends with it. */
  async resumeDialog(dc, reason, result) {
    return dc.endDialog(result);
  }

  /** Asks again (after an interruption). */
  // eslint-disable-next-line no-unused-vars
  async repromptDialog(context, instance) {}

  /** The dialog leaves the stack (`reason`: a DialogReason). */
  // eslint-disable-next-line no-unused-vars
  async endDialog(context, instance, reason) {}
}

/** A stack read from state, checked: anything else starts empty. */
function checkedState(value) {
  if (value && typeof value === 'object' && Array.isArray(value.dialogStack)
      && value.dialogStack.every((i) => i && typeof i.id === 'string' && typeof i.state === 'object' && i.state)) {
    return value;
  }
  return { dialogStack: [] };
}

/** The dialogs a bot (or a ComponentDialog) knows, by id. */
export class DialogSet {
  /** @param {{get: Function, set: Function}} [dialogState] a state property
   * accessor, e.g. `conversationState.createProperty('dialogState')`. */
  constructor(dialogState) {
    this.dialogState = dialogState;
    this.dialogs = new Map();
  }

  /** Adds a dialog; ids must be unique. Returns the set. */
  add(dialog) {
    if (!(dialog instanceof Dialog)) throw new TypeError('DialogSet.add(): not a Dialog');
    if (this.dialogs.has(dialog.id)) {
      throw new Error(`DialogSet.add(): a dialog with an id of '${dialog.id}' already added.`);
    }
    this.dialogs.set(dialog.id, dialog);
    return this;
  }

  /** The dialog named `dialogId`, or undefined. */
  find(dialogId) {
    return this.dialogs.get(dialogId);
  }

  /** The turn's DialogContext, over the stack loaded from state. */
  async createContext(context) {
    if (!this.dialogState) {
      throw new Error('DialogSet.createContext(): the dialog set was not given a state property accessor.');
    }
    const loaded = this.dialogState.get(undefined);
    const state = checkedState(loaded);
    const dc = new DialogContext(this, context, state);
    dc.persist = () => this.dialogState.set(state);
    return dc;
  }
}

/** One turn's view of a dialog stack: start, continue and end dialogs. */
export class DialogContext {
  /**
   * @param {DialogSet} dialogs the dialogs this stack may start.
   * @param {object} contextOrDC the TurnContext, or the parent DialogContext
   *   (for a ComponentDialog's inner stack).
   * @param {{dialogStack: object[]}} state where the stack lives.
   */
  constructor(dialogs, contextOrDC, state) {
    if (contextOrDC instanceof DialogContext) {
      this.context = contextOrDC.context;
      this.parent = contextOrDC;
      this.persist = contextOrDC.persist;
    } else {
      this.context = contextOrDC;
    }
    this.dialogs = dialogs;
    this.state = state;
    /** The stack, the active dialog first. */
    this.stack = state.dialogStack;
  }

  /** The active dialog's instance `{id, state}`, or undefined. */
  get activeDialog() {
    return this.stack[0];
  }

  /** A dialog by id, in this set or a parent's. */
  findDialog(dialogId) {
    return this.dialogs.find(dialogId) ?? this.parent?.findDialog(dialogId);
  }

  /** Writes the stack back to state (the whole tree, from the root). */
  save() {
    this.persist?.();
  }

  /** Pushes `dialogId` and starts it with `options`. */
  async beginDialog(dialogId, options) {
    const dialog = this.findDialog(dialogId);
    if (!dialog) throw new Error(`DialogContext.beginDialog(): a dialog with an id of '${dialogId}' wasn't found.`);
    this.stack.unshift({ id: dialogId, state: {} });
    this.save();
    const result = await dialog.beginDialog(this, options);
    this.save();
    return result;
  }

  /** Starts a prompt: `promptOrOptions` is a string, an activity or
   * PromptOptions (`{prompt, retryPrompt, choices, style, validations}`). */
  async prompt(dialogId, promptOrOptions, choices) {
    const isOptions = promptOrOptions && typeof promptOrOptions === 'object' && !promptOrOptions.type
      && !('text' in promptOrOptions);
    const options = isOptions ? { ...promptOrOptions } : { prompt: promptOrOptions };
    if (choices) options.choices = choices;
    return this.beginDialog(dialogId, options);
  }

  /** Passes the turn to the active dialog; `empty` when there is none. A
   * stack whose active dialog the bot no longer has (state from an older
   * version of the bot) is logged and cleared, not thrown: it would
   * otherwise fail every later turn of the conversation. */
  async continueDialog() {
    const instance = this.activeDialog;
    if (!instance) return { status: DialogTurnStatus.empty };
    const dialog = this.findDialog(instance.id);
    if (!dialog) {
      log('warn', `DialogContext.continueDialog(): no dialog '${instance.id}'; the dialog stack was cleared`);
      this.stack.length = 0;
      this.save();
      return { status: DialogTurnStatus.empty };
    }
    const result = await dialog.continueDialog(this);
    this.save();
    return result;
  }

  /** Ends the active dialog with `result`; the one below resumes with it. */
  async endDialog(result) {
    await this.endActiveDialog(DialogReason.endCalled);
    const instance = this.activeDialog;
    if (instance) {
      const dialog = this.findDialog(instance.id);
      if (!dialog) throw new Error(`DialogContext.endDialog(): can't resume '${instance.id}': not found.`);
      const turn = await dialog.resumeDialog(this, DialogReason.endCalled, result);
      this.save();
      return turn;
    }
    this.save();
    return { status: DialogTurnStatus.complete, result };
  }

  /** Ends the active dialog and starts `dialogId` in its place. */
  async replaceDialog(dialogId, options) {
    await this.endActiveDialog(DialogReason.replaceCalled);
    return this.beginDialog(dialogId, options);
  }

  /** Ends every dialog on this stack (and, with `cancelParents`, the
   * parents' stacks too). */
  async cancelAllDialogs(cancelParents = false) {
    if (!this.stack.length && !(cancelParents && this.parent)) return { status: DialogTurnStatus.empty };
    while (this.stack.length) await this.endActiveDialog(DialogReason.cancelCalled);
    this.save();
    if (cancelParents && this.parent) return this.parent.cancelAllDialogs(true);
    return { status: DialogTurnStatus.cancelled };
  }

  /** Asks the active dialog to prompt again. */
  async repromptDialog() {
    const instance = this.activeDialog;
    const dialog = instance && this.findDialog(instance.id);
    if (dialog) await dialog.repromptDialog(this.context, instance);
  }

  async endActiveDialog(reason) {
    const instance = this.activeDialog;
    if (!instance) return;
    const dialog = this.findDialog(instance.id);
    if (dialog) await dialog.endDialog(this.context, instance, reason);
    this.stack.shift();
    this.save();
  }
}

/** What a waterfall step gets: the DialogContext's methods, and `index`,
 * `options`, `reason`, `result` (the previous step's, or the ended child
 * dialog's), `values` (kept across the steps) and `next(result)`. */
export class WaterfallStepContext extends DialogContext {
  constructor(dc, info) {
    super(dc.dialogs, dc.context, dc.state);
    this.parent = dc.parent;
    this.persist = dc.persist;
    this.index = info.index;
    this.options = info.options;
    this.reason = info.reason;
    this.result = info.result;
    this.values = info.values;
    this.onNext = info.onNext;
    this.nextCalled = false;
  }

  /** Skips to the next step with `result`. */
  async next(result) {
    if (this.nextCalled) throw new Error(`WaterfallStepContext.next(): called more than once in step ${this.index}.`);
    this.nextCalled = true;
    return this.onNext(result);
  }
}

/** Steps run in order, one per turn or more: each step gets the previous
 * one's result and returns a turn result (a prompt, `Dialog.EndOfTurn`,
 * `step.next()`, `step.endDialog()`). After the last step the dialog ends
 * with that step's result. */
export class WaterfallDialog extends Dialog {
  /** @param {string} dialogId @param {Function[]} [steps] */
  constructor(dialogId, steps = []) {
    super(dialogId);
    this.steps = [];
    for (const step of steps) this.addStep(step);
  }

  addStep(step) {
    if (typeof step !== 'function') throw new TypeError(`WaterfallDialog '${this.id}': a step must be a function`);
    this.steps.push(step);
    return this;
  }

  async beginDialog(dc, options) {
    const state = dc.activeDialog.state;
    state.options = options ?? {};
    state.values = {};
    return this.runStep(dc, 0, DialogReason.beginCalled, undefined);
  }

  async continueDialog(dc) {
    if (dc.context.activity.type !== 'message') return Dialog.EndOfTurn;
    return this.resumeDialog(dc, DialogReason.continueCalled, dc.context.activity.text);
  }

  async resumeDialog(dc, reason, result) {
    return this.runStep(dc, dc.activeDialog.state.stepIndex + 1, reason, result);
  }

  async runStep(dc, index, reason, result) {
    if (index >= this.steps.length) return dc.endDialog(result);
    const state = dc.activeDialog.state;
    state.stepIndex = index;
    dc.save();
    const step = new WaterfallStepContext(dc, {
      index,
      options: state.options,
      reason,
      result,
      values: state.values,
      onNext: (r) => this.runStep(dc, index + 1, DialogReason.nextCalled, r),
    });
    const turn = await this.steps[index].call(this, step);
    if (!turn || typeof turn.status !== 'string') {
      throw new Error(`WaterfallDialog '${this.id}': step ${index} returned no DialogTurnResult `
        + '(return a prompt, Dialog.EndOfTurn, step.next() or step.endDialog()).');
    }
    return turn;
  }
}

/** Dialogs of its own, run on an inner stack kept in its instance state:
 * `addDialog` them, then it starts `initialDialogId` (the first added). */
export class ComponentDialog extends Dialog {
  constructor(dialogId) {
    super(dialogId);
    this.dialogs = new DialogSet();
    this.initialDialogId = undefined;
  }

  addDialog(dialog) {
    this.dialogs.add(dialog);
    if (this.initialDialogId === undefined) this.initialDialogId = dialog.id;
    return this;
  }

  findDialog(dialogId) {
    return this.dialogs.find(dialogId);
  }

  async beginDialog(outerDc, options) {
    outerDc.activeDialog.state.dialogs = { dialogStack: [] };
    const inner = this.createChildContext(outerDc);
    const turn = await this.onBeginDialog(inner, options);
    if (turn.status !== DialogTurnStatus.waiting) return this.endComponent(outerDc, turn.result);
    return Dialog.EndOfTurn;
  }

  async continueDialog(outerDc) {
    const turn = await this.onContinueDialog(this.createChildContext(outerDc));
    if (turn.status !== DialogTurnStatus.waiting) return this.endComponent(outerDc, turn.result);
    return Dialog.EndOfTurn;
  }

  /** A dialog of the outer stack ended on top of this one: ask again. */
  async resumeDialog(outerDc) {
    await this.repromptDialog(outerDc.context, outerDc.activeDialog);
    return Dialog.EndOfTurn;
  }

  async repromptDialog(context, instance) {
    const inner = new DialogContext(this.dialogs, context, checkedState(instance.state.dialogs));
    await inner.repromptDialog();
  }

  async endDialog(context, instance, reason) {
    if (reason === DialogReason.cancelCalled) {
      const inner = new DialogContext(this.dialogs, context, checkedState(instance.state.dialogs));
      await inner.cancelAllDialogs();
    }
  }

  /** Starts the inner stack; override to do more. */
  async onBeginDialog(innerDc, options) {
    return innerDc.beginDialog(this.initialDialogId, options);
  }

  /** Continues the inner stack; override to handle interruptions
   * ("cancel", "help") before it. */
  async onContinueDialog(innerDc) {
    return innerDc.continueDialog();
  }

  /** The inner stack ended: this dialog ends with its result. */
  async endComponent(outerDc, result) {
    return outerDc.endDialog(result);
  }

  createChildContext(outerDc) {
    const state = outerDc.activeDialog.state;
    state.dialogs = checkedState(state.dialogs);
    return new DialogContext(this.dialogs, outerDc, state.dialogs);
  }
}
