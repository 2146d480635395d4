import { Logger } from '@nestjs/common';

// Nest's static logger (used before an app exists, as by the TF.js runtime) stays quiet in tests.
Logger.overrideLogger(false);

// TF.js's own warnings (the "install tfjs-node" hint) are silent in production mode; tests
// that build models before any runtime exists would print them otherwise.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('@tensorflow/tfjs-core').enableProdMode();
