// openmic's chat bodies as the services' own libraries read them:
// node chat-bodies.mjs <dir>
// <dir>/teams/*.json and <dir>/discord/*.json are request bodies as openmic sends them.
//
// - Teams: each card parsed by `adaptivecards` (3.0.6, Microsoft's renderer library)
//   under Teams' published host config (teams-host-config.json: Microsoft's
//   AdaptiveCards repository, samples/HostConfig/microsoft-teams-light.json, as of its
//   commit 437e57a of 12 May 2021; `actions.maxActions` is 6). Any parse event
//   (an unknown element, property or value), any validation failure (too many
//   actions among them), an action or a link run lost in parsing fails.
// - Discord: each embed through `@discordjs/builders`' EmbedBuilder, whose setters
//   validate as Discord documents (title 1-256, description 1-4096, URL http(s), 25
//   fields of name ≤ 256 and value ≤ 1024), with the 6000 total (`embedLength`),
//   non-empty field names and values, content ≤ 2000 and no mention allowed.
//
// Prints one line per body and a count per service; exits non-zero naming each body
// that fails.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { EmbedBuilder, embedLength } from "@discordjs/builders";

// adaptivecards' ES build imports without file extensions, which Node does not
// resolve: its UMD bundle is the same library.
const require = createRequire(import.meta.url);
const AC = require("adaptivecards/dist/adaptivecards.js");

const [dir] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node chat-bodies.mjs <dir>");
  process.exit(2);
}

const hostConfigJson = JSON.parse(readFileSync(new URL("./teams-host-config.json", import.meta.url)));
const hostConfig = new AC.HostConfig(hostConfigJson);
assert.equal(hostConfig.actions.maxActions, 6, "Teams' host config shows six actions");

function bodies(kind) {
  let names = [];
  try {
    names = readdirSync(join(dir, kind)).filter((n) => n.endsWith(".json")).sort();
  } catch {
    return [];
  }
  return names.map((n) => [n, JSON.parse(readFileSync(join(dir, kind, n), "utf8"))]);
}

let failed = 0;
function check(kind, name, f) {
  try {
    f();
    console.log(`ok - ${kind}/${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${kind}/${name}: ${e.message}`);
  }
}

/// Every object in `v` whose `type` is `type`.
function all(v, type, out = []) {
  if (Array.isArray(v)) v.forEach((x) => all(x, type, out));
  else if (v && typeof v === "object") {
    if (v.type === type) out.push(v);
    Object.values(v).forEach((x) => all(x, type, out));
  }
  return out;
}

const teams = bodies("teams");
for (const [name, body] of teams) {
  check("teams", name, () => {
    assert.equal(body.type, "message");
    assert.equal(body.attachments.length, 1);
    const attachment = body.attachments[0];
    assert.equal(attachment.contentType, "application/vnd.microsoft.card.adaptive");
    const content = attachment.content;
    const card = new AC.AdaptiveCard();
    card.hostConfig = hostConfig;
    const context = new AC.SerializationContext();
    card.parse(content, context);
    const events = [];
    for (let i = 0; i < context.eventCount; i++) events.push(context.getEventAt(i).message);
    assert.deepEqual(events, [], "parse events");
    const validation = card.validateProperties();
    assert.deepEqual(validation.validationEvents.map((e) => e.message), [], "validation events");
    const actions = content.actions ?? [];
    assert.ok(actions.length <= hostConfig.actions.maxActions, `${actions.length} actions, Teams shows ${hostConfig.actions.maxActions}`);
    assert.equal(card.getActionCount(), actions.length, "every action parsed");
    // The links after the actions: runs that open a URL, each parsed with its action.
    const runs = all(content.body, "TextRun").filter((r) => r.selectAction);
    let parsedRuns = 0;
    for (let i = 0; i < card.getItemCount(); i++) {
      const item = card.getItemAt(i);
      if (item instanceof AC.RichTextBlock) {
        for (let j = 0; j < item.getInlineCount(); j++) {
          const inline = item.getInlineAt(j);
          if (inline.selectAction) {
            assert.ok(inline.selectAction instanceof AC.OpenUrlAction, "a run's action opens a URL");
            assert.match(inline.selectAction.url, /^https?:\/\//);
            parsedRuns += 1;
          }
        }
      }
    }
    assert.equal(parsedRuns, runs.length, "every link run parsed");
    for (const a of card.getAllActions()) assert.match(a.url, /^https?:\/\//, "an action's URL");
    // No element that reads Markdown carries text.
    assert.deepEqual(all(content.body, "TextBlock"), [], "no TextBlock");
    assert.deepEqual(all(content.body, "FactSet"), [], "no FactSet");
    for (const r of all(content.body, "TextRun")) assert.ok(r.text.length > 0, "no empty run");
  });
}

const discord = bodies("discord");
for (const [name, body] of discord) {
  check("discord", name, () => {
    assert.deepEqual(body.allowed_mentions, { parse: [] }, "no mention allowed");
    assert.ok(body.content.length >= 1 && body.content.length <= 2000, "content 1-2000");
    assert.equal(body.embeds.length, 1);
    const e = body.embeds[0];
    const embed = new EmbedBuilder();
    embed.setTitle(e.title);
    if ("description" in e) embed.setDescription(e.description);
    if ("url" in e) embed.setURL(e.url);
    embed.setColor(e.color);
    embed.setTimestamp(new Date(e.timestamp));
    embed.setFields(...(e.fields ?? []));
    const json = embed.toJSON();
    assert.ok(embedLength(json) <= 6000, `embed length ${embedLength(json)}`);
    for (const f of json.fields ?? []) {
      assert.ok(f.name.length >= 1 && f.value.length >= 1, "a field's name and value hold something");
    }
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)), "timestamp");
  });
}

console.log(`teams: ${teams.length} cards, discord: ${discord.length} embeds, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
