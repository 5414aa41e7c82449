// The Lightning web component's linting, as Salesforce's own LWC configuration checks it (`make test` runs it:
// tests/test_salesforce_project.py). Not metadata: .forceignore keeps it out of deploys.
const lwcConfig = require('@salesforce/eslint-config-lwc');

module.exports = [
    ...lwcConfig.configs.recommended,
    {
        files: ['force-app/main/default/lwc/**/*.js'],
    },
];
