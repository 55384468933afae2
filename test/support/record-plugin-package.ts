// Loaded by name through TIDEFLOW_PLUGINS in child-process tests, as an
// external plugin package would be.
import { RecordPlugin } from './test-plugins.js';
export default RecordPlugin;
