#!/usr/bin/env node
// `npm run vendor:api-reference`: fetches the pinned release of Scalar's API reference from the npm
// registry (`npm pack`, nothing installed) and copies its standalone browser bundle and licence under
// public/assets/vendor, where the worker serves /docs from without any network at run time. The copy
// is committed: a shop's worker and `npm start` need no build step, and the page works offline.
// To move to another release, change VERSION, run this, and try /docs in a browser.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PACKAGE = "@scalar/api-reference";
const VERSION = "1.76.4";
const OUT = "public/assets/vendor";

const work = mkdtempSync(join(tmpdir(), "api-reference-"));
try {
  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", `${PACKAGE}@${VERSION}`, "--json", "--pack-destination", work], {
      encoding: "utf8",
    }),
  );
  execFileSync("tar", ["xzf", join(work, packed.filename), "-C", work]);
  const manifest = JSON.parse(readFileSync(join(work, "package/package.json"), "utf8"));
  if (manifest.license !== "MIT") throw new Error(`${PACKAGE} is now ${manifest.license}, not MIT`);
  // The source map (20 MB) stays out: the reference is read, not debugged, and a browser would ask
  // for the missing file on every visit with developer tools open.
  const bundle = readFileSync(join(work, "package/dist/browser/standalone.js"), "utf8");
  writeFileSync(
    join(OUT, "scalar-api-reference.js"),
    bundle.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"),
  );
  // The package ships its licence only as a field; the text is the MIT licence of its repository.
  writeFileSync(
    join(OUT, "scalar-api-reference.LICENSE.txt"),
    `${PACKAGE} ${VERSION} (https://github.com/scalar/scalar), dist/browser/standalone.js

MIT License

Copyright (c) 2023-present Scalar

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`,
  );
  console.log(`vendored ${PACKAGE}@${VERSION} into ${OUT}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
