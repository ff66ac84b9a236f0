// Node-RED for bench/mqtt/run.sh: headless (no editor, no HTTP nodes),
// warnings only, nothing written besides the user directory.
module.exports = {
  uiHost: "127.0.0.1",
  httpAdminRoot: false,
  httpNodeRoot: false,
  credentialSecret: false,
  flowFilePretty: false,
  logging: { console: { level: "warn", metrics: false, audit: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false, updateNotification: false },
};
