/**
 * Writes sdk/src/router.generated.ts: the server's `type AppRouter` with every procedure's
 * input and output spelled out, so the published `.d.ts` carries the full types without
 * the server's context (its database, logger, job queue…) or any server import.
 *
 *   tsx sdk/scripts/generate-router-types.ts           write the file
 *   tsx sdk/scripts/generate-router-types.ts --check   exit 1 if it is out of date
 *
 * test/sdk/router.type.test.ts pins the result to AppRouter, so drift fails typecheck.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = path.join(ROOT, 'sdk/src/router.generated.ts');
/** Dashboard-only procedures: they need a browser session, never an API key. */
export const EXCLUDED = new Set(['auth.signup', 'auth.login', 'auth.logout', 'auth.changePassword', 'auth.logoutOthers']);
const ROUTER_KEYS = new Set(['_def', 'createCaller']);

const configFile = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), (f) => ts.sys.readFile(f));
const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, ROOT);
const program = ts.createProgram([path.join(ROOT, 'server/root.ts')], parsed.options);
const checker = program.getTypeChecker();
const rootFile = program.getSourceFile(path.join(ROOT, 'server/root.ts'));
if (!rootFile) throw new Error('server/root.ts not found');
const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(rootFile)!);
const appRouterSymbol = exported.find((s) => s.name === 'AppRouter');
if (!appRouterSymbol) throw new Error('server/root.ts exports no AppRouter type');
const appRouter = checker.getDeclaredTypeOfSymbol(appRouterSymbol);

const prop = (type: ts.Type, name: string): ts.Type => {
  const symbol = checker.getPropertyOfType(type, name);
  if (!symbol) throw new Error(`no property ${name} on ${checker.typeToString(type)}`);
  return checker.getTypeOfSymbol(symbol);
};

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string) => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

/** Prints a type structurally, expanding every alias and interface the server declares. */
function print(type: ts.Type, indent: string, seen: ts.Type[]): string {
  const f = type.flags;
  if (f & ts.TypeFlags.Any) return 'any';
  if (f & ts.TypeFlags.Unknown) return 'unknown';
  if (f & ts.TypeFlags.Never) return 'never';
  if (f & ts.TypeFlags.Boolean) return 'boolean';
  if (f & (ts.TypeFlags.String | ts.TypeFlags.Number | ts.TypeFlags.BigInt | ts.TypeFlags.Null | ts.TypeFlags.Undefined | ts.TypeFlags.Void | ts.TypeFlags.BooleanLiteral | ts.TypeFlags.ESSymbol)) {
    return checker.typeToString(type);
  }
  if (type.isStringLiteral()) return JSON.stringify(type.value);
  if (type.isNumberLiteral()) return String(type.value);
  if (f & ts.TypeFlags.TemplateLiteral) return checker.typeToString(type);
  if (seen.includes(type)) throw new Error(`recursive type ${checker.typeToString(type)}: teach the generator to name it`);
  const next = [...seen, type];
  if (type.isUnion()) {
    // boolean is true | false inside a larger union.
    const members = type.types;
    const hasTrue = members.some((m) => m.flags & ts.TypeFlags.BooleanLiteral && checker.typeToString(m) === 'true');
    const hasFalse = members.some((m) => m.flags & ts.TypeFlags.BooleanLiteral && checker.typeToString(m) === 'false');
    const parts = members
      .filter((m) => !(hasTrue && hasFalse && m.flags & ts.TypeFlags.BooleanLiteral))
      .map((m) => print(m, indent, next));
    if (hasTrue && hasFalse) parts.push('boolean');
    return parts.join(' | ');
  }
  if (type.isIntersection()) return type.types.map((m) => print(m, indent, next)).join(' & ');
  if (f & ts.TypeFlags.Object) {
    if (checker.isArrayType(type)) {
      const [element] = checker.getTypeArguments(type as ts.TypeReference);
      return `Array<${print(element!, indent, next)}>`;
    }
    if (checker.isTupleType(type)) {
      return `[${checker.getTypeArguments(type as ts.TypeReference).map((t) => print(t, indent, next)).join(', ')}]`;
    }
    if (type.symbol?.name === 'Date') return 'Date';
    if (type.getCallSignatures().length > 0) throw new Error(`function type ${checker.typeToString(type)} in a procedure's input or output`);
    const inner = indent + '  ';
    const lines: string[] = [];
    for (const info of checker.getIndexInfosOfType(type)) {
      lines.push(`${inner}[key: ${checker.typeToString(info.keyType)}]: ${print(info.type, inner, next)};`);
    }
    for (const property of checker.getPropertiesOfType(type)) {
      const optional = property.flags & ts.SymbolFlags.Optional ? '?' : '';
      const readonly = property.declarations?.some((d) => ts.getCombinedModifierFlags(d) & ts.ModifierFlags.Readonly) ? 'readonly ' : '';
      lines.push(`${inner}${readonly}${key(property.name)}${optional}: ${print(checker.getTypeOfSymbol(property), inner, next)};`);
    }
    return lines.length === 0 ? '{}' : `{\n${lines.join('\n')}\n${indent}}`;
  }
  throw new Error(`cannot print ${checker.typeToString(type)} (flags ${f})`);
}

const declarations: string[] = [];
const routerLines: string[] = [];
const namespaces = checker.getPropertiesOfType(appRouter).filter((s) => !ROUTER_KEYS.has(s.name));
for (const namespace of namespaces) {
  const nsType = checker.getTypeOfSymbol(namespace);
  const procedures = checker.getPropertiesOfType(nsType).filter((s) => !ROUTER_KEYS.has(s.name) && !EXCLUDED.has(`${namespace.name}.${s.name}`));
  if (procedures.length === 0) continue;
  routerLines.push(`  ${key(namespace.name)}: {`);
  for (const procedure of procedures) {
    const def = prop(checker.getTypeOfSymbol(procedure), '_def');
    const kind = checker.typeToString(prop(def, 'type'));
    const $types = prop(def, '$types');
    const base = `${namespace.name[0]!.toUpperCase()}${namespace.name.slice(1)}${procedure.name[0]!.toUpperCase()}${procedure.name.slice(1)}`;
    declarations.push(`export type ${base}Input = ${print(prop($types, 'input'), '', [])};`);
    declarations.push(`export type ${base}Output = ${print(prop($types, 'output'), '', [])};`);
    const wrapper = kind === '"query"' ? 'TRPCQueryProcedure' : kind === '"mutation"' ? 'TRPCMutationProcedure' : null;
    if (!wrapper) throw new Error(`${namespace.name}.${procedure.name}: procedure type ${kind} is not supported`);
    routerLines.push(`    ${key(procedure.name)}: ${wrapper}<{ input: ${base}Input; output: ${base}Output; meta: object }>;`);
  }
  routerLines.push('  };');
}

// Only the error shape is taken from the root types; the context stays on the server.
const errorShape = print(prop(prop(prop(prop(prop(appRouter, '_def'), '_config'), '$types'), 'errorShape'), 'data'), '', []);

const source = `// Generated by sdk/scripts/generate-router-types.ts from server/root.ts — do not edit.
// \`npm run sdk:build\` regenerates it; test/sdk/router.type.test.ts fails when it drifts.
import type { TRPCBuiltRouter, TRPCMutationProcedure, TRPCQueryProcedure } from '@trpc/server';

/** \`data\` of every tRPC error: the RFC 9457 problem REST answers, in \`data.problem\`. */
export type UsageErrorData = ${errorShape};

export type UsageErrorShape = {
  message: string;
  code: number;
  data: UsageErrorData;
};

${declarations.join('\n\n')}

/** The server's AppRouter as clients see it (dashboard-only procedures left out). */
export type UsageRouter = TRPCBuiltRouter<
  { ctx: object; meta: object; errorShape: UsageErrorShape; transformer: false },
  {
${routerLines.map((l) => '  ' + l).join('\n')}
  }
>;
`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(OUT, 'utf8');
  } catch {
    // missing counts as out of date
  }
  if (current !== source) {
    console.error('sdk/src/router.generated.ts is out of date: run `npm run sdk:build`.');
    process.exit(1);
  }
} else {
  writeFileSync(OUT, source);
  console.log(`wrote ${path.relative(ROOT, OUT)} (${namespaces.length} routers)`);
}
