//! Room for `maxclients` connections: at start, the process's open-files
//! limit is raised to `maxclients` + 32 (Redis's `adjustOpenFilesLimit`),
//! or, where the system will not allow it, `maxclients` is lowered to what
//! fits — with Redis's log lines either way. Without this, a server under
//! the usual 1024 descriptors fails to accept at about a thousand clients
//! however high `maxclients` is.

/// Descriptors Redis keeps for itself (`CONFIG_MIN_RESERVED_FDS`).
pub const RESERVED_FDS: u64 = 32;

/// What the adjustment did: the `maxclients` to use and the lines to log
/// (notices, or warnings when `maxclients` was lowered).
#[derive(Debug, PartialEq)]
pub struct Adjusted {
    pub maxclients: u64,
    pub log: Vec<String>,
}

/// Redis's `adjustOpenFilesLimit` over a limit getter and setter (the
/// system's in [`adjust`]; a test's own in the unit tests). `None` from
/// `get` means the limit is unknown: nothing is changed.
pub fn adjust_with(
    maxclients: u64,
    get: impl Fn() -> Option<u64>,
    set: impl Fn(u64) -> Result<(), String>,
) -> Result<Adjusted, String> {
    let maxfiles = maxclients + RESERVED_FDS;
    let mut log = Vec::new();
    let Some(old) = get() else {
        return Ok(Adjusted { maxclients, log });
    };
    if old >= maxfiles {
        return Ok(Adjusted { maxclients, log });
    }
    // Try the limit wanted, then less in steps of 16, down to the current one.
    let mut best = maxfiles;
    let mut error = String::new();
    while best > old {
        match set(best) {
            Ok(()) => break,
            Err(e) => {
                error = e;
                best = best.saturating_sub(16).max(old);
            }
        }
    }
    if best >= maxfiles {
        log.push(format!(
            "Increased maximum number of open files to {maxfiles} (it was originally set to {old})."
        ));
        return Ok(Adjusted { maxclients, log });
    }
    let fit = best.saturating_sub(RESERVED_FDS);
    if fit < 1 {
        return Err(format!(
            "Your current 'ulimit -n' of {old} is not enough for the server to start. Please increase your open file limit to at least {}. Exiting.",
            RESERVED_FDS + 1
        ));
    }
    log.push(format!(
        "You requested maxclients of {maxclients} requiring at least {maxfiles} max file descriptors."
    ));
    log.push(format!(
        "Server can't set maximum open files to {maxfiles} because of OS error: {error}."
    ));
    log.push(format!(
        "Current maximum open files is {best}. maxclients has been reduced to {fit} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    ));
    Ok(Adjusted {
        maxclients: fit,
        log,
    })
}

/// The same on this process's `RLIMIT_NOFILE`.
#[cfg(unix)]
pub fn adjust(maxclients: u64) -> Result<Adjusted, String> {
    use rlimit::Resource;
    let get = || Resource::NOFILE.get().ok().map(|(soft, _)| soft);
    // strerror's words, without Rust's " (os error N)".
    let words = |e: std::io::Error| {
        let s = e.to_string();
        s.split(" (os error").next().unwrap_or_default().to_string()
    };
    let set = |n: u64| {
        let (_, hard) = Resource::NOFILE.get().map_err(words)?;
        Resource::NOFILE.set(n, hard.max(n)).map_err(words)
    };
    adjust_with(maxclients, get, set)
}

#[cfg(not(unix))]
pub fn adjust(maxclients: u64) -> Result<Adjusted, String> {
    Ok(Adjusted {
        maxclients,
        log: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn raises_the_limit_when_allowed() {
        let limit = Cell::new(1024u64);
        let a = adjust_with(
            10000,
            || Some(limit.get()),
            |n| {
                limit.set(n);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(a.maxclients, 10000);
        assert_eq!(limit.get(), 10032);
        assert_eq!(
            a.log,
            ["Increased maximum number of open files to 10032 (it was originally set to 1024)."]
        );
        // Enough already: nothing to do, nothing logged.
        let a = adjust_with(10000, || Some(65536), |_| unreachable!()).unwrap();
        assert_eq!(
            a,
            Adjusted {
                maxclients: 10000,
                log: vec![]
            }
        );
    }

    #[test]
    fn lowers_maxclients_to_what_the_system_allows() {
        let limit = Cell::new(1024u64);
        let hard = 4000;
        let a = adjust_with(
            10000,
            || Some(limit.get()),
            |n| {
                if n > hard {
                    Err("Operation not permitted".into())
                } else {
                    limit.set(n);
                    Ok(())
                }
            },
        )
        .unwrap();
        // 10032 down in steps of 16 to the first that fits: 4000.
        assert_eq!(limit.get(), 4000);
        assert_eq!(a.maxclients, 3968);
        assert_eq!(
            a.log[0],
            "You requested maxclients of 10000 requiring at least 10032 max file descriptors."
        );
        assert_eq!(a.log[1], "Server can't set maximum open files to 10032 because of OS error: Operation not permitted.");
        assert!(a.log[2].starts_with(
            "Current maximum open files is 4000. maxclients has been reduced to 3968"
        ));
        // Nothing at all allowed: the current limit decides.
        let a = adjust_with(10000, || Some(1024), |_| Err("no".into())).unwrap();
        assert_eq!(a.maxclients, 992);
        // Too few descriptors to serve anyone.
        assert!(adjust_with(10000, || Some(20), |_| Err("no".into()))
            .unwrap_err()
            .contains("is not enough for the server to start"));
    }
}
