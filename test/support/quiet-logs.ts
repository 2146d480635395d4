import { Logger } from '@nestjs/common';

// Nest's static logger (used before an app exists, as by the TF.js runtime) stays quiet in tests.
Logger.overrideLogger(false);
