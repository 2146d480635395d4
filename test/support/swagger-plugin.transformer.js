// ts-jest runs the @nestjs/swagger plugin through this adapter, with nest-cli.json's options.
const transformer = require('@nestjs/swagger/plugin');
const nestCli = require('../../nest-cli.json');

const { options } = nestCli.compilerOptions.plugins.find((plugin) => plugin.name === '@nestjs/swagger');

module.exports.name = 'nestjs-swagger-transformer';
// Bump when the options change, so ts-jest's cache is invalidated.
module.exports.version = 1;
module.exports.factory = (compiler) => transformer.before(options, compiler.program);
