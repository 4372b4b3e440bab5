/**
 * Where the CLI writes: standard output (results) and standard error (progress, messages).
 * One indirection so that tests can run the CLI in-process and capture both without
 * touching process.stdout (which the test runner itself uses).
 */
export const output = {
  /** Write results (translations, generated text, labels, eval figures). */
  out: (s: string): void => {
    process.stdout.write(s);
  },
  /** Write progress, notes, warnings and errors. */
  err: (s: string): void => {
    process.stderr.write(s);
  },
};
