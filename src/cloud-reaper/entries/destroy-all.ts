// The `thebacknd/destroy-all` action: bundled alone (esbuild) into one CommonJS file exporting main(params).
import { entry, destroyAllAction } from '../actions';

export const main = entry(destroyAllAction);
