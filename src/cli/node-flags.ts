/**
 * The flags every program of this package gives node when it starts: the
 * bin files' first two lines (BIN_PRELUDE), the service write-config
 * writes, the stage processes an archive starts, and the benches. V8
 * reads these only while it sets its heap up, so unlike the growth factor
 * (heap-growth.ts) they cannot be set from inside the program; a test
 * (test/cli/node-flags.ts) keeps the bin files' lines equal to this list.
 *
 * `--max-semi-space-size=8` caps the young generation at two halves of
 * 8 MiB instead of V8's 16 on 64-bit machines. A run touches both halves
 * whole, so this is about 20 MB less resident memory in every daily run,
 * for no loss of speed (20,000-file tree in tmpfs, side by side: unchanged
 * run 8 pairs, peak RSS 123 MB against 144, wall median 1.35 s against
 * 1.30, within noise; after a 1% change 6 pairs, 136 MB against 155,
 * 1.77 s against 1.75; first run 3 pairs, 178 MB against 200; restore 4
 * pairs, 4.03 s against 4.27, 213 MB against 225). Halves of 4 MiB saved
 * another 4 MB and were slower (6 pairs, 1.39 s against 1.33).
 */
export const NODE_START_FLAGS: readonly string[] = ['--max-semi-space-size=8']

/**
 * The first two lines of every bin file. sh runs the file and the second
 * line replaces it with node, found on PATH, given the flags and the same
 * file and arguments (`//` fails as a command, silently); node reads that
 * line as a comment. `#!/usr/bin/env -S node FLAGS` would say the same,
 * but BusyBox's env, and GNU env before coreutils 8.30, have no -S.
 */
export const BIN_PRELUDE = `#!/bin/sh\n// 2>/dev/null; exec node ${NODE_START_FLAGS.join(' ')} "$0" "$@"`
