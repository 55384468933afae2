// Loaded by name through TIDEFLOW_PLUGINS by child processes (the scale-out
// benchmark's engine and worker), as an external plugin package would be.
import { NoopPlugin } from './test-plugins.js';
export default NoopPlugin;
