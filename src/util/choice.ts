/**
 * A value that must be one of a few words (a config enum, an option such
 * as --lock-mode or --cpu-scheduling): matched in any case and returned as
 * `choices` spells it, so `governance` is the mode GOVERNANCE and `Batch`
 * the policy batch. Undefined when `text` names none of them.
 */
export function matchChoice<T extends string>(text: string, choices: readonly T[]): T | undefined {
  const wanted = text.toUpperCase()
  return choices.find((choice) => choice.toUpperCase() === wanted)
}

/** What is wrong with a value that names none of `choices`: `"TEXT" is not one of A, B`. */
export function notOneOf(text: string, choices: readonly string[]): string {
  return `"${text}" is not one of ${choices.join(', ')}`
}
