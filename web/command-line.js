// A command line typed into the tasks form, split into the argv a `shell` task runs. The node runs
// the program itself, never through a shell: this split is only for typing convenience, so it
// follows the familiar quoting (POSIX shell words) and nothing else — no variables, globs, pipes,
// redirections or `;`: those characters reach the program as they are.

/**
 * Splits `line` into words: blanks separate them; '…' keeps everything literally; "…" keeps
 * everything but `\"` and `\\`; a backslash outside quotes keeps the next character. Throws an
 * Error naming the problem for an unterminated quote or a trailing backslash.
 */
export function splitCommandLine(line) {
  const argv = [];
  let word = '';
  let inWord = false;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = '';
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = '';
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new Error('the command ends with a lone backslash');
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`a ${quote === "'" ? 'single' : 'double'} quote is not closed`);
  if (inWord) argv.push(word);
  return argv;
}
