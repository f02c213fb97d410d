// The `thebacknd/list` action: bundled alone (esbuild) into one CommonJS file exporting main(params).
import { entry, listAction } from '../actions';

export const main = entry(listAction);
