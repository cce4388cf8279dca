// An express app for slowspan's end-to-end tests: a fast route, slow routes
// (one parametrised), and POST /flush to export pending spans at once.
'use strict';

const { spanProcessor } = require('./tracing');
const express = require('express');

const app = express();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

app.get('/fast', (req, res) => res.send('fast'));
app.get('/slow', async (req, res) => {
  await sleep(800);
  res.send('slow');
});
app.get('/items/:id', async (req, res) => {
  await sleep(600);
  res.send(`item ${req.params.id}`);
});
app.post('/flush', async (req, res) => {
  try {
    await spanProcessor.forceFlush();
    res.send('flushed');
  } catch (err) {
    res.status(500).send(String(err));
  }
});
// Anything else (hostile paths in the tests) is slow too.
app.use(async (req, res) => {
  await sleep(600);
  res.status(404).send('not found');
});

const port = Number(process.env.NODEAPP_PORT || 8081);
app.listen(port, '127.0.0.1', () => console.log(`nodeapp listening on 127.0.0.1:${port}`));
