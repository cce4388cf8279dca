#!/usr/bin/env node
// check.js renders Mattermost posts with @mattermost/commonmark, the
// Mattermost fork of commonmark.js (its at-mentions, channel links, emoji,
// emoticons, hashtags, inline LaTeX, tables and bare-URL autolinks included),
// and reports what the untrusted text in them turned into.
//
//   node check.js <posts.json>
//
// posts.json is an array of posts written by internal/postcheck (Go):
//
//   name     what produced the post (shown in findings)
//   message  the post's text as the server stores it
//   webhook  the post came through an incoming webhook (Slack markup applies)
//   links    the links the post may contain: [{label, url}]; label is our
//            own link text, url the raw destination ("" or absent: any http(s)
//            destination). Every other link is a finding.
//   code     values that must each render as one whole code span (already
//            cleaned as the renderer cleans them; a span may end cut with "…").
//
// Prints one JSON object per finding ({post, finding}) on stdout and exits 1
// when there is any, 0 when none, 2 on a usage or input error.
"use strict";

const fs = require("fs");
const { Parser } = require("@mattermost/commonmark");

// The emoji our own layout writes (":snail:", ":rotating_light:", and an
// incident post's status: ":red_circle:", ":large_orange_diamond:", ":white_check_mark:"); an emoji or
// emoticon node with another name came from untrusted text.
const OUR_EMOJI = new Set(["snail", "rotating_light", "red_circle", "large_orange_diamond", "white_check_mark"]);

// A live mention: "@", full-width "＠" or small "﹫" directly followed by a
// letter. internal/markdown puts a zero-width space after every "@" of
// untrusted text, so the server's word splitter never sees "@channel".
const LIVE_MENTION = /[@\uFF20\uFE6B](?!\u200b)[\p{L}\p{N}_]/u;

// Slack markup an incoming webhook translates before parsing mentions, even
// inside code spans: "<!channel>", "<@USERID>", "<url|label>". Every "<"
// must be followed by a zero-width space.
const SLACK_MARKUP = /<(?!\u200b)/;

// decode turns %XX escapes into the bytes they stand for (lenient: a "%"
// without two hex digits stays), so a destination encoded by our renderer and
// normalised by the parser compares with the raw URL.
function decode(s) {
  const bytes = [];
  for (let i = 0; i < s.length; ) {
    if (s[i] === "%" && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
      continue;
    }
    const cp = s.codePointAt(i);
    const ch = String.fromCodePoint(cp);
    for (const b of Buffer.from(ch, "utf8")) bytes.push(b);
    i += ch.length;
  }
  return Buffer.from(bytes).toString("utf8");
}

// textOf is the text a node renders as (its text, code and link children).
function textOf(node) {
  let out = "";
  const w = node.walker();
  let ev;
  while ((ev = w.next())) {
    if (ev.entering && (ev.node.type === "text" || ev.node.type === "code")) {
      out += ev.node.literal;
    }
  }
  return out;
}

function short(s) {
  s = String(s);
  return s.length > 120 ? s.slice(0, 117) + "..." : s;
}

function checkPost(post) {
  const findings = [];
  const add = (f) => findings.push({ post: post.name, finding: f });
  const msg = post.message;
  if (typeof msg !== "string") {
    add("no message");
    return findings;
  }
  const links = post.links || [];
  const doc = new Parser().parse(msg);
  const codes = [];
  // The text of the current leaf block outside code spans: the server looks
  // for mentions in words across adjacent text nodes ("\\@all" renders as
  // "@" then "all").
  let words = "";
  const w = doc.walker();
  let ev;
  while ((ev = w.next())) {
    const n = ev.node;
    if (n.type === "paragraph" || n.type === "heading" || n.type === "table_cell") {
      if (ev.entering) {
        words = "";
        // Our layouts write "####" headings only; another level is a setext
        // heading or "#" that untrusted text formed.
        if (n.type === "heading" && n.level !== 4) add(`heading of level ${n.level}`);
      } else if (LIVE_MENTION.test(words)) {
        add(`live mention in ${JSON.stringify(short(words))}`);
      }
      continue;
    }
    if (!ev.entering) continue;
    switch (n.type) {
      case "html_inline":
      case "html_block":
        add(`raw HTML ${JSON.stringify(short(n.literal))}`);
        break;
      case "image":
        add(`image ${JSON.stringify(short(n.destination))}`);
        break;
      case "link": {
        const text = textOf(n);
        const dest = n.destination || "";
        const ours = links.some(
          (l) =>
            l.label === text &&
            /^https?:\/\//i.test(dest) &&
            (!l.url || decode(dest) === decode(l.url)),
        );
        if (!ours) {
          add(`link ${JSON.stringify(short(text))} -> ${JSON.stringify(short(dest))} is not one of ours`);
        }
        break;
      }
      case "at_mention":
        add(`mention @${n.mentionName}`);
        break;
      case "channel_link":
        add(`channel link ~${n.channelName}`);
        break;
      case "hashtag":
        add(`hashtag #${n.hashtag}`);
        break;
      case "latex_inline":
        add(`inline LaTeX ${JSON.stringify(short(n.latexCode))}`);
        break;
      case "emoji":
        if (!OUR_EMOJI.has(n.emojiName)) add(`emoji ${JSON.stringify(n.literal)} (${n.emojiName})`);
        break;
      case "table":
        add("table");
        break;
      case "block_quote":
        add("block quote");
        break;
      case "thematic_break":
        add("thematic break");
        break;
      case "list":
        if (n.listType !== "bullet") add(`${n.listType} list`);
        break;
      case "code_block":
        add(`code block ${JSON.stringify(short(n.literal))}`);
        break;
      case "code":
        codes.push(n.literal);
        words += " ";
        break;
      case "softbreak":
      case "linebreak":
        words += " ";
        break;
      case "text":
        words += n.literal;
        break;
    }
  }
  if (post.webhook) {
    const m = SLACK_MARKUP.exec(msg);
    if (m) add(`Slack markup can form: "<" without a zero-width space at ${JSON.stringify(short(msg.slice(m.index, m.index + 40)))}`);
  }
  // Every value that must be a code span is one, whole or cut with "…"
  // (an empty value renders as a span of one space). A value may be missing
  // only when the message says sections were left out or cut to fit: Fit
  // drops whole sections and cuts between lines, never inside a span.
  const cutNote = /left out to fit|message cut/.test(msg);
  for (const want of post.code || []) {
    const found = codes.some(
      (c) => c === want || (want === "" && c === " ") || (c.endsWith("\u2026") && want.startsWith(c.slice(0, -1))),
    );
    if (!found && !cutNote) {
      add(`value ${JSON.stringify(short(want))} is not one whole code span (spans: ${JSON.stringify(codes.map(short).slice(0, 40))})`);
    }
  }
  return findings;
}

function main() {
  if (process.argv.length !== 3) {
    process.stderr.write("usage: node check.js <posts.json>\n");
    process.exit(2);
  }
  let posts;
  try {
    posts = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  } catch (e) {
    process.stderr.write(`check.js: reading ${process.argv[2]}: ${e.message}\n`);
    process.exit(2);
  }
  if (!Array.isArray(posts)) {
    process.stderr.write("check.js: the posts file must hold a JSON array\n");
    process.exit(2);
  }
  let n = 0;
  for (const post of posts) {
    for (const f of checkPost(post)) {
      process.stdout.write(JSON.stringify(f) + "\n");
      n++;
    }
  }
  process.exit(n > 0 ? 1 : 0);
}

main();
