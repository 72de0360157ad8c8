// Preloaded with `node --import` by lazy-sdk tests: prints "aws-sdk imported" on stderr when the
// process first resolves a module of @aws-sdk/client-s3. A module loader hook sees every
// import, static and dynamic, ESM and CommonJS-from-ESM alike.
import { register } from "node:module";

register(
  "data:text/javascript," +
    encodeURIComponent(`
      let seen = false;
      export async function resolve(specifier, context, next) {
        if (!seen && specifier.startsWith("@aws-sdk/client-s3")) {
          seen = true;
          process.stderr.write("aws-sdk imported\\n");
        }
        return next(specifier, context);
      }
    `),
);
