/**
 * Test helpers: a {@linkcode FakeClock} that drives every pattern's time
 * without sleeping.
 *
 * @module
 */

export { FakeClock } from "./fake_clock.ts";
