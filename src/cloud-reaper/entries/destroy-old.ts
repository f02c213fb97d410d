// The `thebacknd/destroy-old` action: bundled alone (esbuild) into one CommonJS file exporting main(params).
import { entry, destroyOldAction } from '../actions';

export const main = entry(destroyOldAction);
