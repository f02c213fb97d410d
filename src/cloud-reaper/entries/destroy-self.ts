// The `thebacknd/destroy-self` action: bundled alone (esbuild) into one CommonJS file exporting main(params).
import { entry, destroySelfAction } from '../actions';

export const main = entry(destroySelfAction);
