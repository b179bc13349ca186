/** Input the caller can fix: the HTTP layer answers 400 with `field` named. */
export class Uds3InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'Uds3InputError';
  }
}

/** Something asked for does not exist (404). */
export class Uds3NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Uds3NotFoundError';
  }
}
