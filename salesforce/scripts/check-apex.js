// Parses every Apex class of the project with @apexdevtools/apex-parser (the ANTLR grammar that aims to match the
// platform compiler; no JVM needed) and fails on any lexer or parser error. `make test` runs it
// (tests/integration/test_salesforce_project.py). Usage: node scripts/check-apex.js <file.cls>...
'use strict';
const fs = require('node:fs');
const { ApexParserFactory, ApexErrorListener } = require('@apexdevtools/apex-parser');

class Collect extends ApexErrorListener {
    constructor(file) {
        super();
        this.file = file;
        this.errors = [];
    }

    apexSyntaxError(line, column, message) {
        this.errors.push(`${this.file}:${line}:${column} ${message}`);
    }
}

let failed = 0;
for (const file of process.argv.slice(2)) {
    const listener = new Collect(file);
    const { parser } = ApexParserFactory.createLexerAndParser(fs.readFileSync(file, 'utf8'), listener);
    parser.compilationUnit();
    for (const error of listener.errors) {
        console.log(error);
    }
    failed += listener.errors.length;
    if (listener.errors.length === 0) {
        console.log(`${file}: parsed`);
    }
}
process.exit(failed ? 1 : 0);
