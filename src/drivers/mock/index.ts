export { MockDriver, type MockDriverOptions } from './mock-driver.js';
