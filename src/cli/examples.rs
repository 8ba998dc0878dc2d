//! The examples and notes at the end of each command's `--help`.

pub const BACKUP_EXAMPLES: &str = "\
Examples:
  phlb backup ~/Documents
  phlb backup ~/Documents ~/Pictures --prune
  phlb backup /srv/www --name www --wait=10min
  phlb backup ~/Documents --dry-run -v        # each file: would link / would copy
  phlb backup ~/Documents --json | jq .new_bytes

Each SOURCE becomes <root>/<name>/<timestamp>/; <root>/<name>/latest then points at the
newest complete snapshot. -v lists each file's action on stderr; -q prints only errors.
--json prints one JSON object per snapshot (JSON lines) instead of the summary.";

pub const VERIFY_EXAMPLES: &str = "\
Examples:
  phlb verify
  phlb verify docs/latest --fast
  phlb verify docs --repair
  phlb verify --json | jq 'select(.problem)'

Problems go to stdout, one per line; notes to stderr (-q: problems only).
--json prints each problem as a JSON object {\"path\", \"problem\"} and then one
summary object {\"summary\": true, \"problems\", ...} (JSON lines).";

pub const ADD_EXAMPLES: &str = "\
Examples:
  phlb add                                  # rebuild a lost catalog from the folders
  phlb add ~/phlb-backups/docs/2026-11-22-101500
  phlb add --trust-manifests --no-link
  phlb add --dry-run                        # which folders it would record; writes nothing

-v names each recorded snapshot; -q prints only errors. --json prints the counts as one
JSON document.";

pub const LIST_EXAMPLES: &str = "\
Examples:
  phlb list
  phlb list docs --bytes
  phlb list --json | jq '.[].snapshot'

Times in JSON are RFC 3339 with offset. -v and -q change nothing here.";

pub const LS_EXAMPLES: &str = "\
Examples:
  phlb ls docs/latest
  phlb ls docs/2026-11-22-101500 notes --long
  phlb ls docs notes --recursive --json

--long adds kind, mode, size and mtime (local time; RFC 3339 in JSON).
-v and -q change nothing here.";

pub const DIFF_EXAMPLES: &str = "\
Examples:
  phlb diff docs                             # its two newest snapshots
  phlb diff docs/2026-11-21-101500 docs/latest
  phlb diff docs --json

-v and -q change nothing here.";

pub const FIND_EXAMPLES: &str = "\
Examples:
  phlb find '*.pdf'
  phlb find 'notes/*todo*' --name docs      # * also crosses /: notes/todo.txt, notes/a/b/todo.md
  phlb find '*.jpg' --each-snapshot --json | jq length

-v and -q change nothing here.";

pub const HISTORY_EXAMPLES: &str = "\
Examples:
  phlb history notes/todo.txt
  phlb history ~/Documents/notes/todo.txt
  phlb history notes/todo.txt --name docs --json

-v and -q change nothing here.";

pub const DUPLICATES_EXAMPLES: &str = "\
Examples:
  phlb duplicates
  phlb duplicates docs/latest --bytes
  phlb duplicates --json

-v and -q change nothing here.";

pub const SQL_EXAMPLES: &str = "\
Examples:
  phlb sql 'SELECT name, timestamp, files FROM snapshots'
  phlb sql 'SELECT path, size FROM files ORDER BY size DESC LIMIT 10' --format csv
  phlb sql 'SELECT * FROM duplicates' --json

--json is --format json. -v and -q change nothing here.";

pub const CONFIG_EXAMPLES: &str = "\
Examples:
  phlb config
  PHLB_BACKUP_ROOT=/mnt/backup phlb config
  phlb --config ~/work.ini config --json
  phlb config --write

Precedence: command line > environment (PHLB_BACKUP_ROOT, PHLB_CONFIG) > ini > default.
A relative BACKUP_PATH in an ini is relative to that ini file's folder.

The ini is searched in this order: --config FILE; PHLB_CONFIG; phlb.ini in the current
folder or any folder above it, up to /; ~/phlb.ini; else the built-in defaults. A cron
job starts in your home folder, so it finds ~/phlb.ini (or give --config). Every
writing command's summary names the root and the config file it used.";

pub const INIT_EXAMPLES: &str = "\
Examples:
  phlb init                         # the configured root (BACKUP_PATH, --backup-root)
  phlb init /media/me/usb/backups   # a root on a removable drive
  phlb --backup-root /media/me/usb/backups backup ~/Documents

Every command but init refuses a folder without .phlb (exit 2), so a drive that is not
mounted never gets a backup written into its empty mount point. The one exception is
the default root ~/phlb-backups, which the first backup makes. A folder of snapshots
that lost its .phlb becomes a root again, its snapshots recorded at once.";

pub const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  phlb completions bash > ~/.local/share/bash-completion/completions/phlb
  phlb completions zsh > ~/.zfunc/_phlb
  phlb completions fish > ~/.config/fish/completions/phlb.fish";

pub const MAN_EXAMPLES: &str = "\
Examples:
  phlb man > ~/.local/share/man/man1/phlb.1
  phlb man | man -l -";

pub const SERVE_EXAMPLES: &str = "\
Examples:
  phlb serve                                  # http://127.0.0.1:8765/<prefix>/?token=<random>
  phlb serve --listen 127.0.0.1:0 --open      # any free port, opened in the browser
  phlb serve --token-file ~/.phlb-token --listen [::1]:9000

The URL printed at start carries the token; opening it sets a cookie scoped to the
pages' secret path prefix, so the token leaves the address bar and reaches no other
server on the host. The token is never taken from or put in process arguments (`ps`
shows those to everyone): --token-file, PHLB_SERVE_TOKEN or SERVE_TOKEN, and --open
gives the browser a private file that redirects. Scripts send `Authorization: Bearer TOKEN`. Requests whose Host
header is not the listen address are refused (no DNS rebinding). A listen address
other than loopback needs --allow-remote (the traffic is plain HTTP). SIGINT or
SIGTERM stops it (exit 0).";

pub const STATUS_EXAMPLES: &str = "\
Examples:
  phlb status
  phlb status --json | jq '.names[] | select(.stale)'
  phlb status -q || mail -s 'backups are stale' root < /dev/null

A name is stale when its newest complete snapshot (its time from the folder name) is
older than MAX_AGE (ini key, e.g. 26h; unset: never). Its last run failed when files
failed or it was killed (incomplete while no writer runs).";

pub const WATCH_EXAMPLES: &str = "\
Examples:
  phlb watch ~/Documents
  phlb watch ~/Documents ~/Pictures --prune
  phlb watch /srv/www --name www -q

At start each source is compared with its newest snapshot by names, sizes and mtimes
(no file is read), and a snapshot is made only if something differs. Then, after the
last change of a burst, it waits WATCH_DELAY of quiet (5s), but never longer than
WATCH_MAX_WAIT from the burst's first change (5min), and never snapshots a source
more often than WATCH_MIN_INTERVAL (60s). Each snapshot is a full incremental backup;
events only decide when. The writer lock is held only while a snapshot runs. When the
kernel's watch limit is reached or its event queue overflows, it polls instead: every
WATCH_MAX_WAIT the same cheap comparison. One line per snapshot; -q: errors only.";

pub const PRUNE_EXAMPLES: &str = "\
Examples:
  phlb prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  phlb prune docs --keep-last 10 --keep-within 30d
  phlb prune --keep-yearly unlimited --keep-monthly 24 --show-lost --json
  phlb prune --keep-versions 5 -n

Within each snapshot name, newest first, a snapshot is kept by a rule when its hour,
day, ISO week, month or year (the local time in its folder name) differs from the
last one that rule kept and the rule has count left; --keep-last keeps the N newest;
--keep-within keeps all not older than the span before the newest. The newest
complete snapshot of a name is always kept; incomplete ones (killed runs) always go.
Without any --keep-* option the KEEP_* keys of the config apply; a policy with no rule
at all is refused. -v lists each removed folder; -q prints nothing but errors.";

pub const FORGET_EXAMPLES: &str = "\
Examples:
  phlb forget docs/2026-11-30-101500 --dry-run
  phlb forget docs/2026-11-30-101500 docs/2026-12-01-101500
  phlb forget --missing";

pub const RESTORE_EXAMPLES: &str = "Examples:
  phlb restore docs --to ~/restored                      # newest snapshot of docs: ~/restored/notes/…
  phlb restore docs/2026-11-22-101500 notes/todo.txt --to /tmp/r   # one file: /tmp/r/notes/todo.txt
  phlb restore docs/latest '*.pdf' --to ~/Documents --force        # put PDFs back in place";
