/**
 * One Date per distinct time: the versions of a content cache or manifest
 * mostly share a handful of retention dates (everything stored or extended
 * by one run gets the same one), and a Date costs about 100 bytes of heap,
 * as much as the rest of its entry. A 100,000-entry cache held 100,000
 * equal Dates. Callers never mutate a Date they got here (this code base
 * never calls a Date setter).
 */
export class SharedDates {
  private readonly dates = new Map<number, Date>()

  /** The shared Date of `ms` milliseconds since the epoch. */
  of(ms: number): Date {
    let date = this.dates.get(ms)
    if (date === undefined) {
      date = new Date(ms)
      this.dates.set(ms, date)
    }
    return date
  }
}
