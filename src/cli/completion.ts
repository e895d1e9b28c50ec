import type { Argument, Command, Option } from 'commander';
import { collect } from './audit-options.js';

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What may follow an option or stand as an argument. */
type Values = { kind: 'none' } | { kind: 'any' } | { kind: 'files' } | { kind: 'directories' } | { kind: 'words'; words: string[] };

interface FlagSpec {
  short?: string;
  long: string;
  description: string;
  values: Values;
  repeatable: boolean;
}

interface CommandSpec {
  name: string;
  description: string;
  flags: FlagSpec[];
  /** The positional arguments' values (one entry for a variadic list). */
  argument: Values;
}

/** Options and arguments whose values are check ids; the rest are told apart by their choices or placeholder. */
const CHECK_ID_OPTIONS = new Set(['--check', '--skip']);
const CHECK_ID_ARGUMENTS = new Set(['explain']);

/** Words put into a script unquoted must be plain: anything else (a plugin's odd id) is left out, never run. */
const PLAIN_WORD = /^[A-Za-z0-9_./:@%+=,-]+$/;

/**
 * A completion script for `shell`, read from the commander program itself, so that every command,
 * option and choice the CLI accepts is offered and nothing else; check ids are those known now
 * (built-ins, and the config's plugins and SQL checks).
 */
export function completionScript(shell: CompletionShell, program: Command, checkIds: readonly string[]): string {
  const ids = checkIds.filter((id) => PLAIN_WORD.test(id));
  const commands = program.commands.filter((c) => !isHidden(c)).map((c) => commandSpec(c, ids));
  const root: CommandSpec = { name: program.name(), description: program.description(), flags: [...program.options.filter((o) => !o.hidden).map((o) => flagSpec(o, ids)), HELP_FLAG], argument: { kind: 'none' } };
  // commander's implicit `help [command]`.
  commands.push({ name: 'help', description: 'display help for a command', flags: [], argument: { kind: 'words', words: commands.map((c) => c.name) } });
  if (shell === 'bash') return bashScript(root, commands);
  if (shell === 'zsh') return zshScript(root, commands);
  return fishScript(root, commands);
}

const HELP_FLAG: FlagSpec = { short: '-h', long: '--help', description: 'display help', values: { kind: 'none' }, repeatable: false };

function isHidden(cmd: Command): boolean {
  // commander keeps `hidden` private; a command added with { hidden: true } is not one users see.
  return (cmd as unknown as { _hidden?: boolean })._hidden === true;
}

function commandSpec(cmd: Command, ids: string[]): CommandSpec {
  const flags = cmd.options.filter((o) => !o.hidden && o.long).map((o) => flagSpec(o, ids));
  return { name: cmd.name(), description: cmd.description(), flags: [...flags, HELP_FLAG], argument: argumentValues(cmd, cmd.registeredArguments[0], ids) };
}

function flagSpec(option: Option, ids: string[]): FlagSpec {
  const long = option.long as string;
  return {
    ...(option.short ? { short: option.short } : {}),
    long,
    description: shortDescription(option.description),
    values: optionValues(option, ids),
    repeatable: option.parseArg === (collect as unknown),
  };
}

function optionValues(option: Option, ids: string[]): Values {
  if (!option.required && !option.optional) return { kind: 'none' };
  if (option.argChoices) return { kind: 'words', words: option.argChoices.filter((w) => PLAIN_WORD.test(w)) };
  if (CHECK_ID_OPTIONS.has(option.long as string)) return { kind: 'words', words: ids };
  const placeholder = /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags);
  const name = placeholder?.[1] ?? placeholder?.[2] ?? '';
  if (/file/.test(name)) return { kind: 'files' };
  if (/dir/.test(name)) return { kind: 'directories' };
  return { kind: 'any' };
}

function argumentValues(cmd: Command, argument: Argument | undefined, ids: string[]): Values {
  if (!argument) return { kind: 'none' };
  if (argument.argChoices) return { kind: 'words', words: argument.argChoices.filter((w) => PLAIN_WORD.test(w)) };
  if (CHECK_ID_ARGUMENTS.has(cmd.name())) return { kind: 'words', words: ids };
  if (/file/.test(argument.name())) return { kind: 'files' };
  return { kind: 'any' };
}

/** A command's description up to its first colon or full stop. */
const commandDescription = (text: string) => shortDescription(text, /; | \(|: |\. /);

/** The first clause of a help text, without what a shell would read as syntax. */
function shortDescription(text: string, clauseEnd = /; | \(/): string {
  const first = (text.split(clauseEnd)[0] ?? '').replace(/\.$/, '');
  const plain = first.replace(/[\n\r\t]/g, ' ').replace(/[[\]`$\\"]/g, '').trim();
  if (plain.length <= 90) return plain;
  const cut = plain.slice(0, 90);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), 40))}…`;
}

const flagNames = (f: FlagSpec) => (f.short ? [f.short, f.long] : [f.long]);

// bash -------------------------------------------------------------------------------------------

function bashValueCase(flags: FlagSpec[]): string[] {
  const out: string[] = [];
  for (const f of flags) {
    if (f.values.kind === 'none') continue;
    const pattern = flagNames(f).join('|');
    const reply =
      f.values.kind === 'words'
        ? `COMPREPLY=($(compgen -W '${f.values.words.join(' ')}' -- "$cur"))`
        : f.values.kind === 'directories'
          ? `COMPREPLY=($(compgen -d -- "$cur"))`
          : f.values.kind === 'files'
            ? `COMPREPLY=($(compgen -f -- "$cur"))`
            : NO_FILES;
    out.push(`        ${pattern}) ${reply}; return ;;`);
  }
  return out;
}

function bashArgument(values: Values): string {
  if (values.kind === 'words') return `COMPREPLY=($(compgen -W '${values.words.join(' ')}' -- "$cur"))`;
  if (values.kind === 'directories') return `COMPREPLY=($(compgen -d -- "$cur"))`;
  if (values.kind === 'files') return `COMPREPLY=($(compgen -f -- "$cur"))`;
  return NO_FILES;
}

/** A value with nothing to offer (a URL, a number): no file names either, which `-o default` would add. */
const NO_FILES = 'compopt +o default 2>/dev/null; COMPREPLY=()';

function bashScript(root: CommandSpec, commands: CommandSpec[]): string {
  const fn = `_${root.name.replace(/[^A-Za-z0-9_]/g, '_')}_completion`;
  const lines = [
    `# bash completion for ${root.name}, written by \`${root.name} completion bash\`.`,
    `# Load it now with: source <(${root.name} completion bash)`,
    `# or for every shell: ${root.name} completion bash > ~/.local/share/bash-completion/completions/${root.name}`,
    `${fn}() {`,
    '  local cur prev cmd i',
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  cmd=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    case "${COMP_WORDS[i]}" in',
    '      -*) ;;',
    '      *) cmd="${COMP_WORDS[i]}"; break ;;',
    '    esac',
    '  done',
    '  case "$cmd" in',
    '    "")',
    `      COMPREPLY=($(compgen -W '${[...commands.map((c) => c.name), ...root.flags.flatMap(flagNames)].join(' ')}' -- "$cur"))`,
    '      return ;;',
  ];
  for (const c of commands) {
    const values = bashValueCase(c.flags);
    lines.push(`    ${c.name})`);
    if (values.length > 0) lines.push('      case "$prev" in', ...values, '      esac');
    lines.push(
      '      if [[ "$cur" == -* ]]; then',
      `        COMPREPLY=($(compgen -W '${c.flags.flatMap(flagNames).join(' ')}' -- "$cur"))`,
      '      else',
      `        ${bashArgument(c.argument)}`,
      '      fi',
      '      return ;;',
    );
  }
  lines.push('  esac', '}', `complete -o default -F ${fn} ${root.name}`, '');
  return lines.join('\n');
}

// zsh --------------------------------------------------------------------------------------------

/** A zsh single-quoted word. */
const zq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function zshAction(values: Values, label: string): string {
  if (values.kind === 'words') return `:${label}:(${values.words.join(' ')})`;
  if (values.kind === 'files') return `:${label}:_files`;
  if (values.kind === 'directories') return `:${label}:_files -/`;
  if (values.kind === 'any') return `:${label}: `;
  return '';
}

function zshFlag(f: FlagSpec): string {
  const label = f.long.replace(/^--/, '');
  const spec = `[${f.description.replace(/:/g, '\\:')}]${zshAction(f.values, label)}`;
  const star = f.repeatable ? '*' : '';
  if (f.short) return `${star ? "'*'" : `'(${f.short} ${f.long})'`}{${f.short},${f.long}}${zq(spec)}`;
  return zq(`${star}${f.long}${spec}`);
}

function zshScript(root: CommandSpec, commands: CommandSpec[]): string {
  const fn = `_${root.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const lines = [
    `#compdef ${root.name}`,
    `# zsh completion for ${root.name}, written by \`${root.name} completion zsh\`.`,
    `# Save it as _${root.name} in a folder of your $fpath (e.g. ~/.zfunc, with fpath+=~/.zfunc before compinit).`,
    `${fn}() {`,
    '  local curcontext="$curcontext" state line',
    '  typeset -A opt_args',
    '  local -a commands',
    '  commands=(',
    ...commands.map((c) => `    ${zq(`${c.name}:${commandDescription(c.description).replace(/:/g, '\\:')}`)}`),
    '  )',
    '  _arguments -C \\',
    ...root.flags.map((f) => `    ${zshFlag(f)} \\`),
    "    '1: :->command' \\",
    "    '*:: :->args'",
    '  case $state in',
    "    command) _describe -t commands 'command' commands ;;",
    '    args)',
    '      case $words[1] in',
  ];
  for (const c of commands) {
    const argument = c.argument.kind === 'none' ? [] : [`        ${zq(`*${zshAction(c.argument, 'argument')}`)}`];
    const specs = [...c.flags.map((f) => `        ${zshFlag(f)}`), ...argument];
    lines.push(`        ${c.name})`, '          _arguments -s \\', ...specs.map((s, i) => `  ${s}${i < specs.length - 1 ? ' \\' : ''}`), '          ;;');
  }
  lines.push('      esac ;;', '  esac', '}', `${fn} "$@"`, '');
  return lines.join('\n');
}

// fish -------------------------------------------------------------------------------------------

/** A fish single-quoted word: only \ and ' are special inside. */
const fq = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

function fishScript(root: CommandSpec, commands: CommandSpec[]): string {
  const c = `complete -c ${root.name}`;
  const names = commands.map((x) => x.name).join(' ');
  const lines = [
    `# fish completion for ${root.name}, written by \`${root.name} completion fish\`.`,
    `# Save it with: ${root.name} completion fish > ~/.config/fish/completions/${root.name}.fish`,
    `${c} -f`,
    ...commands.map((x) => `${c} -n __fish_use_subcommand -a ${x.name} -d ${fq(commandDescription(x.description))}`),
    ...root.flags.map((f) => `${c} -n __fish_use_subcommand ${fishFlag(f)}`),
  ];
  for (const x of commands) {
    const when = `-n ${fq(`__fish_seen_subcommand_from ${x.name}`)}`;
    for (const f of x.flags) lines.push(`${c} ${when} ${fishFlag(f)}`);
    const a = x.argument;
    if (a.kind === 'words') lines.push(`${c} ${when} -a ${fq(a.words.join(' '))}`);
    if (a.kind === 'files' || a.kind === 'directories') lines.push(`${c} ${when} -F`);
  }
  lines.push(`# commands: ${names}`, '');
  return lines.join('\n');
}

function fishFlag(f: FlagSpec): string {
  const parts = [f.short ? `-s ${f.short.replace(/^-/, '')}` : '', `-l ${f.long.replace(/^--/, '')}`];
  if (f.values.kind === 'words') parts.push(`-x -a ${fq(f.values.words.join(' '))}`);
  if (f.values.kind === 'files') parts.push('-r -F');
  if (f.values.kind === 'directories') parts.push(`-x -a '(__fish_complete_directories)'`);
  if (f.values.kind === 'any') parts.push('-x');
  parts.push(`-d ${fq(f.description)}`);
  return parts.filter(Boolean).join(' ');
}
