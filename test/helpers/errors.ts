/** Runs `fn`, expects it to throw, and returns the error message. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the call to throw');
}
