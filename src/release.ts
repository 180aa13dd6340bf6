// Letting go of several kernel resources (fds, mappings, map slots) at once:
// a step that throws must not leave the ones after it held.

/** Runs every step, even after some throw; returns what they threw, in order. */
export function releaseAll(steps: Iterable<() => void>): unknown[] {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      step();
    } catch (error) {
      errors.push(error);
    }
  }
  return errors;
}

/** releaseAll(), then the first error, if any, thrown (the rest say less: they mostly follow from it). */
export function releaseAllOrThrow(steps: Iterable<() => void>): void {
  const errors = releaseAll(steps);
  if (errors.length > 0) throw errors[0];
}
