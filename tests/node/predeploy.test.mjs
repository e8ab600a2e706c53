// scripts/predeploy.mjs: what `make deploy` warns about before it spends minutes on `make test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openings } from "../../scripts/predeploy.mjs";

test("an open production is named, a closed one is quiet", () => {
  const open = openings({ ALLOWED_ORIGINS: "" }, []);
  assert.equal(open.length, 2);
  assert.match(open[0], /ALLOWED_ORIGINS is empty/);
  assert.match(open[1], /no AUTH_SECRET: anyone who knows a room's name can join it/);
  assert.deepEqual(openings({ ALLOWED_ORIGINS: "https://app.example.com" }, ["AUTH_SECRET", "TURN_SECRET"]), []);
  assert.equal(openings({}, ["AUTH_SECRET"]).length, 1, "no ALLOWED_ORIGINS at all is empty too");
});
