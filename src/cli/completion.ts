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
  /** The words that lead to it, the program's name left out: `['quarantine', 'restore']`; `[]` for the program. */
  path: string[];
  description: string;
  flags: FlagSpec[];
  /** The positional arguments' values (one entry for a variadic list). */
  argument: Values;
  /** Its own commands (`quarantine list`), commander's implicit `help` among them. */
  subcommands: CommandSpec[];
}

/** Options and arguments whose values are check ids; the rest are told apart by their choices or placeholder. */
const CHECK_ID_OPTIONS = new Set(['--check', '--skip']);
const CHECK_ID_ARGUMENTS = new Set(['explain']);

/** Words put into a script unquoted must be plain: anything else (a plugin's odd id) is left out, never run. */
const PLAIN_WORD = /^[A-Za-z0-9_./:@%+=,-]+$/;

/**
 * A completion script for `shell`, read from the commander program itself, so that every command
 * (and subcommand), option and choice the CLI accepts is offered and nothing else; check ids are those
 * known now (built-ins, and the config's plugins and SQL checks).
 */
export function completionScript(shell: CompletionShell, program: Command, checkIds: readonly string[]): string {
  const ids = checkIds.filter((id) => PLAIN_WORD.test(id));
  const root = commandSpec(program, [], ids);
  if (shell === 'bash') return bashScript(root);
  if (shell === 'zsh') return zshScript(root);
  return fishScript(root);
}

/** The program and every command under it, parents first. */
function allCommands(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(allCommands)];
}

const HELP_FLAG: FlagSpec = { short: '-h', long: '--help', description: 'display help', values: { kind: 'none' }, repeatable: false };

function isHidden(cmd: Command): boolean {
  // commander keeps `hidden` private; a command added with { hidden: true } is not one users see.
  return (cmd as unknown as { _hidden?: boolean })._hidden === true;
}

function commandSpec(cmd: Command, path: string[], ids: string[]): CommandSpec {
  const flags = cmd.options.filter((o) => !o.hidden && o.long).map((o) => flagSpec(o, ids));
  const subcommands = cmd.commands.filter((c) => !isHidden(c)).map((c) => commandSpec(c, [...path, c.name()], ids));
  if (subcommands.length > 0) {
    // commander's implicit `help [command]`.
    subcommands.push({ name: 'help', path: [...path, 'help'], description: 'display help for a command', flags: [], argument: { kind: 'words', words: subcommands.map((c) => c.name) }, subcommands: [] });
  }
  return {
    name: cmd.name(),
    path,
    description: cmd.description(),
    flags: [...flags, HELP_FLAG],
    argument: subcommands.length > 0 ? { kind: 'none' } : argumentValues(cmd, cmd.registeredArguments[0], ids),
    subcommands,
  };
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

function bashReply(values: Values): string {
  if (values.kind === 'words') return `COMPREPLY=($(compgen -W '${values.words.join(' ')}' -- "$cur"))`;
  if (values.kind === 'directories') return `COMPREPLY=($(compgen -d -- "$cur"))`;
  if (values.kind === 'files') return `COMPREPLY=($(compgen -f -- "$cur"))`;
  return NO_FILES;
}

/** A value with nothing to offer (a URL, a number): no file names either, which `-o default` would add. */
const NO_FILES = 'compopt +o default 2>/dev/null; COMPREPLY=()';

function bashCommandCase(c: CommandSpec): string[] {
  const values = c.flags.filter((f) => f.values.kind !== 'none').map((f) => `        ${flagNames(f).join('|')}) ${bashReply(f.values)}; return ;;`);
  const words: Values = c.subcommands.length > 0 ? { kind: 'words', words: c.subcommands.map((x) => x.name) } : c.argument;
  return [
    `    ${JSON.stringify(c.path.join(' '))})`,
    ...(values.length > 0 ? ['      case "$prev" in', ...values, '      esac'] : []),
    '      if [[ "$cur" == -* ]]; then',
    `        COMPREPLY=($(compgen -W '${c.flags.flatMap(flagNames).join(' ')}' -- "$cur"))`,
    '      else',
    `        ${bashReply(words)}`,
    '      fi',
    '      return ;;',
  ];
}

function bashScript(root: CommandSpec): string {
  const fn = `_${root.name.replace(/[^A-Za-z0-9_]/g, '_')}_completion`;
  const commands = allCommands(root);
  // The commands that have commands of their own: the word after one of them is a subcommand.
  const groups = commands.filter((c) => c.subcommands.length > 0).map((c) => c.path.join(' '));
  const lines = [
    `# bash completion for ${root.name}, written by \`${root.name} completion bash\`.`,
    `# Load it now with: source <(${root.name} completion bash)`,
    `# or for every shell: ${root.name} completion bash > ~/.local/share/bash-completion/completions/${root.name}`,
    `${fn}() {`,
    '  local cur prev path w i',
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  path=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    [[ "$w" == -* ]] && continue',
    `    case "|${groups.join('|')}|" in`,
    '      *"|$path|"*) path="${path:+$path }$w" ;;',
    '      *) break ;;',
    '    esac',
    '  done',
    '  case "$path" in',
    ...commands.flatMap(bashCommandCase),
    '  esac',
    '}',
    `complete -o default -F ${fn} ${root.name}`,
    '',
  ];
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

/** The body completing `c`: its options and argument, or its subcommands and then, by name, theirs. */
function zshBody(c: CommandSpec, indent: string): string[] {
  const depth = c.path.length;
  const flags = c.flags.map(zshFlag);
  if (c.subcommands.length === 0) {
    const argument = c.argument.kind === 'none' ? [] : [zq(`*${zshAction(c.argument, 'argument')}`)];
    const specs = [...flags, ...argument];
    return [`${indent}_arguments -s \\`, ...specs.map((x, i) => `${indent}  ${x}${i < specs.length - 1 ? ' \\' : ''}`)];
  }
  const list = `commands_${depth}`;
  return [
    `${indent}local -a ${list}`,
    `${indent}${list}=(`,
    ...c.subcommands.map((x) => `${indent}  ${zq(`${x.name}:${commandDescription(x.description).replace(/:/g, '\\:')}`)}`),
    `${indent})`,
    `${indent}_arguments -C \\`,
    ...flags.map((x) => `${indent}  ${x} \\`),
    `${indent}  '1: :->command_${depth}' \\`,
    `${indent}  '*:: :->args_${depth}'`,
    `${indent}case $state in`,
    `${indent}  command_${depth}) _describe -t commands 'command' ${list} ;;`,
    `${indent}  args_${depth})`,
    `${indent}    case $words[1] in`,
    ...c.subcommands.flatMap((x) => [`${indent}      ${x.name})`, ...zshBody(x, `${indent}        `), `${indent}        ;;`]),
    `${indent}    esac ;;`,
    `${indent}esac`,
  ];
}

function zshScript(root: CommandSpec): string {
  const fn = `_${root.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const lines = [
    `#compdef ${root.name}`,
    `# zsh completion for ${root.name}, written by \`${root.name} completion zsh\`.`,
    `# Save it as _${root.name} in a folder of your $fpath (e.g. ~/.zfunc, with fpath+=~/.zfunc before compinit).`,
    `${fn}() {`,
    '  local curcontext="$curcontext" state line',
    '  typeset -A opt_args',
    ...zshBody(root, '  '),
    '}',
    `${fn} "$@"`,
    '',
  ];
  return lines.join('\n');
}

// fish -------------------------------------------------------------------------------------------

/** A fish single-quoted word: only \ and ' are special inside. */
const fq = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;

function fishScript(root: CommandSpec): string {
  const c = `complete -c ${root.name}`;
  const using = `__${root.name.replace(/[^A-Za-z0-9_]/g, '_')}_using`;
  const when = (words: string[], exact: boolean) => `-n ${fq([using, ...(exact ? [] : ['-p']), ...words].join(' '))}`;
  const lines = [
    `# fish completion for ${root.name}, written by \`${root.name} completion fish\`.`,
    `# Save it with: ${root.name} completion fish > ~/.config/fish/completions/${root.name}.fish`,
    `${c} -f`,
    '# Whether the words typed so far, options left out, are exactly the arguments (-p: start with them).',
    `function ${using}`,
    '    set -l prefix 0',
    '    if test "$argv[1]" = -p',
    '        set prefix 1',
    '        set -e argv[1]',
    '    end',
    '    set -l path',
    '    for w in (commandline -opc)[2..-1]',
    "        string match -q -- '-*' $w; or set -a path $w",
    '    end',
    '    if test $prefix = 1',
    '        test (count $path) -ge (count $argv); or return 1',
    '        for i in (seq (count $argv))',
    '            test "$path[$i]" = "$argv[$i]"; or return 1',
    '        end',
    '        return 0',
    '    end',
    '    test "$path" = "$argv"',
    'end',
  ];
  for (const x of allCommands(root)) {
    const group = x.subcommands.length > 0;
    // A command with subcommands is complete once one is typed: its options are offered only before.
    const at = when(x.path, group);
    for (const sub of x.subcommands) lines.push(`${c} ${when(x.path, true)} -a ${sub.name} -d ${fq(commandDescription(sub.description))}`);
    for (const f of x.flags) lines.push(`${c} ${at} ${fishFlag(f)}`);
    const a = x.argument;
    if (a.kind === 'words') lines.push(`${c} ${at} -a ${fq(a.words.join(' '))}`);
    if (a.kind === 'files' || a.kind === 'directories') lines.push(`${c} ${at} -F`);
  }
  lines.push('');
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
