// force timezone to UTC to allow tests to work regardless of local timezone
// generally used by snapshots, but can affect specific tests
process.env.TZ = 'UTC';

const base = require('./.config/jest.config');

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...base,
  // @grafana/data 13 loads d3's ES modules, shipped as .mjs files.
  transform: { '^.+\\.m?(t|j)sx?$': base.transform['^.+\\.(t|j)sx?$'] },
};
