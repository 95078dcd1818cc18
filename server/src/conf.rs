//! redis.conf as redis-server reads it (`loadServerConfig`), so
//! `cachelab-server /path/to/redis.conf --port 7000 --save 60 1` starts the
//! way `redis-server` does: the file's lines, then each `--name arg …` of
//! the command line as one more line (its arguments quoted), parsed with
//! `sdssplitargs`; `include` files read in place; the first bad line stops
//! the start with Redis's FATAL CONFIG FILE ERROR, its line number and
//! reason. The directives a process needs (port, bind, replicaof, logfile,
//! pidfile, daemonize) are taken here; every other one is a node's
//! configuration, checked as CONFIG SET would at start-up.

use cachelab_engine::protocol::cli::repr;
use cachelab_engine::protocol::split_args;

/// One directive, where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub num: usize,
    /// The line as written (for the error message).
    pub text: String,
    /// Lower-case directive name.
    pub name: String,
    pub args: Vec<String>,
}

/// Redis's words for a configuration that cannot be loaded.
pub fn fatal(num: usize, text: &str, reason: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {num}\n>>> '{text}'\n{reason}"
    )
}

/// The configuration text: the file's contents (if any), then the
/// command-line options, each `--name` starting a line (as main() builds it).
pub fn text(file: Option<&str>, options: &[(String, Vec<String>)]) -> String {
    let mut opts = String::new();
    for (name, args) in options {
        if !opts.is_empty() {
            opts.push('\n');
        }
        opts.push_str(name);
        opts.push(' ');
        for a in args {
            opts.push_str(&repr(a.as_bytes()));
            opts.push(' ');
        }
    }
    let mut config = file.unwrap_or("").to_string();
    if !opts.is_empty() {
        config.push('\n');
        config.push_str(&opts);
    }
    config
}

/// The directives of a configuration text; `include` lines are replaced
/// by the included file's directives (read with `read`).
pub fn parse(
    config: &str,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    for (i, raw) in config.split('\n').enumerate() {
        let num = i + 1;
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(argv) = split_args(line.as_bytes()) else {
            return Err(fatal(num, line, "Unbalanced quotes in configuration line"));
        };
        let Some(first) = argv.first() else {
            continue;
        };
        let name = String::from_utf8_lossy(first).to_ascii_lowercase();
        let args: Vec<String> = argv[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if name == "include" {
            let [path] = args.as_slice() else {
                return Err(fatal(
                    num,
                    line,
                    "Bad directive or wrong number of arguments",
                ));
            };
            let included = read(path).map_err(|e| fatal(num, line, &e))?;
            out.extend(parse(&included, read)?);
            continue;
        }
        out.push(Line {
            num,
            text: line.to_string(),
            name,
            args,
        });
    }
    Ok(out)
}

/// What the process takes from the configuration itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Process {
    pub port: Option<u16>,
    pub bind: Option<String>,
    pub replicaof: Option<(String, u16)>,
    pub logfile: Option<String>,
    pub pidfile: Option<String>,
    /// The node's directives, in order.
    pub node: Vec<Line>,
}

/// Splits the directives into the process's and the node's; a malformed
/// process directive is refused in Redis's words.
pub fn split(lines: Vec<Line>) -> Result<Process, String> {
    let mut p = Process::default();
    for l in lines {
        let bad = |reason: &str| fatal(l.num, &l.text, reason);
        let arity = || bad("Bad directive or wrong number of arguments");
        match l.name.as_str() {
            "port" => {
                let [v] = l.args.as_slice() else {
                    return Err(arity());
                };
                let port = v
                    .parse::<u16>()
                    .map_err(|_| bad("argument couldn't be parsed into an integer"))?;
                p.port = Some(port);
            }
            "bind" => {
                // The first address to listen on ("-" marks an optional one).
                let Some(first) = l.args.first() else {
                    return Err(arity());
                };
                p.bind = Some(first.trim_start_matches('-').to_string());
            }
            "replicaof" | "slaveof" => {
                let [host, port] = l.args.as_slice() else {
                    return Err(arity());
                };
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad("Invalid master port"))?;
                p.replicaof = Some((host.clone(), port));
            }
            "logfile" => {
                let [v] = l.args.as_slice() else {
                    return Err(arity());
                };
                p.logfile = (!v.is_empty()).then(|| v.clone());
            }
            "pidfile" => {
                let [v] = l.args.as_slice() else {
                    return Err(arity());
                };
                p.pidfile = (!v.is_empty()).then(|| v.clone());
            }
            "daemonize" => {
                let [v] = l.args.as_slice() else {
                    return Err(arity());
                };
                if !v.eq_ignore_ascii_case("no") {
                    return Err(bad("cachelab-server runs in the foreground: use daemonize no (a process manager keeps it running)"));
                }
            }
            _ => p.node.push(l),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(_: &str) -> Result<String, String> {
        Err("no files here".into())
    }

    #[test]
    fn command_line_options_follow_the_file_as_redis_numbers_them() {
        let t = text(
            Some("port 7777\nsave\n"),
            &[("maxmemory".into(), vec!["abc".into()])],
        );
        let lines = parse(&t, &no_files).unwrap();
        assert_eq!(lines.last().unwrap().num, 4);
        assert_eq!(lines.last().unwrap().text, "maxmemory \"abc\"");
        let t = text(
            None,
            &[
                ("port".into(), vec!["7777".into()]),
                ("save".into(), vec!["10".into(), "2".into()]),
            ],
        );
        let lines = parse(&t, &no_files).unwrap();
        assert_eq!(
            (lines[1].num, lines[1].args.clone()),
            (3, vec!["10".to_string(), "2".to_string()])
        );
    }

    #[test]
    fn process_directives_and_errors() {
        let t =
            "# comment\nport 7001\nbind 127.0.0.1 -::1\nreplicaof 10.0.0.1 6379\nmaxmemory 1mb\n";
        let p = split(parse(t, &no_files).unwrap()).unwrap();
        assert_eq!(p.port, Some(7001));
        assert_eq!(p.bind.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.replicaof, Some(("10.0.0.1".into(), 6379)));
        assert_eq!(p.node.len(), 1);
        let e = parse("port 1\nsave \"unbalanced\n", &no_files).unwrap_err();
        assert!(
            e.contains("at line 2") && e.contains("Unbalanced quotes"),
            "{e}"
        );
        let e = split(parse("replicaof onlyhost\n", &no_files).unwrap()).unwrap_err();
        assert!(
            e.ends_with("Bad directive or wrong number of arguments"),
            "{e}"
        );
        let e = parse("include /nowhere.conf\n", &no_files).unwrap_err();
        assert!(e.contains(">>> 'include /nowhere.conf'"), "{e}");
    }
}
