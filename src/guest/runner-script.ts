/**
 * The builtin guest runner: the program installed as /usr/local/bin/infra.operator in the
 * image. A POSIX sh script (busybox ash, dash and bash run it), so that it works on any
 * image with a /bin/sh and needs no binary built per architecture. The protocol it speaks
 * (job disk, result lines) is described in docs/guest-runner.md and declared for the host
 * in protocol.ts.
 *
 * Kept as one String.raw literal: no backquote may appear in the script, and dollar-brace
 * only to insert the protocol constants of protocol.ts and the language table of
 * languages.ts.
 */
import { codeFileCases, commandCases } from './languages.js';
import { JOB_LIMITS, JOB_MEMBERS, READY_LINE, RESULT_BEGIN, RESULT_END, RUNNING_LINE, SECRET_SECTOR } from './protocol.js';

/** The language table's `case` entries sit inside a function's `case`: two levels deep. */
const CASE_INDENT = '    ';

export const GUEST_RUNNER_SCRIPT = String.raw`#!/bin/sh
# infra.operator guest runner: a POSIX sh program (busybox ash, dash, bash).
# It takes one job from a raw tar on a second disk, runs it as the image's USER with the
# image's ENV in its WORKDIR under a timeout, prints one JSON result line between two
# marker lines on the console, and powers off when the job asks. Protocol:
# docs/guest-runner.md in the infra.operator sources.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

CONF_DIR=$INFRA_OPERATOR_CONF_DIR
[ -n "$CONF_DIR" ] || CONF_DIR=/etc/infra.operator
JOB_DEVICE=$INFRA_OPERATOR_JOB_DEVICE
[ -n "$JOB_DEVICE" ] || JOB_DEVICE=/dev/vdb
STATE_DIR=$INFRA_OPERATOR_STATE_DIR
[ -n "$STATE_DIR" ] || STATE_DIR=/run/infra.operator

READY_LINE='${READY_LINE}'
RUNNING_LINE='${RUNNING_LINE}'
RESULT_BEGIN='${RESULT_BEGIN}'
RESULT_END='${RESULT_END}'
DEFAULT_TIMEOUT=${JOB_LIMITS.defaultTimeout}
DEFAULT_MAX_OUTPUT=${JOB_LIMITS.defaultMaxOutput}

# Bytes (as od prints them: decimal, whitespace-separated) to one JSON string. The output
# is pure ASCII: everything outside printable ASCII is a \u escape, so the line survives
# any awk (mawk, gawk, busybox) in any locale. UTF-8 is decoded as the WHATWG Encoding
# standard's decoder does it (valid sequences become code points, surrogate pairs above
# U+FFFF; each maximal invalid subpart becomes U+FFFD), the same text a JSON.parse on
# the host gets from decoding the raw bytes.
JSON_AWK='
function hex4(n) { return sprintf("\\u%04x", n) }
function codepoint(c) {
  if (c < 65536) return hex4(c)
  c -= 65536
  return hex4(55296 + int(c / 1024)) hex4(56320 + c % 1024)
}
function lead(b) {
  if (b < 128) { out = out ascii[b]; return }
  if (b >= 194 && b <= 223) { need = 1; cp = b - 192 }
  else if (b >= 224 && b <= 239) {
    need = 2; cp = b - 224
    if (b == 224) lo = 160
    if (b == 237) hi = 159
  }
  else if (b >= 240 && b <= 244) {
    need = 3; cp = b - 240
    if (b == 240) lo = 144
    if (b == 244) hi = 143
  }
  else out = out "\\ufffd"
}
BEGIN {
  for (i = 0; i < 128; i++) ascii[i] = hex4(i)
  for (i = 32; i < 127; i++) ascii[i] = sprintf("%c", i)
  ascii[34] = "\\\""; ascii[92] = "\\\\"
  ascii[8] = "\\b"; ascii[9] = "\\t"; ascii[10] = "\\n"; ascii[12] = "\\f"; ascii[13] = "\\r"
  need = 0; lo = 128; hi = 191; out = ""
  printf "\""
}
{
  for (i = 1; i <= NF; i++) {
    b = $i + 0
    if (need > 0) {
      if (b >= lo && b <= hi) {
        lo = 128; hi = 191
        cp = cp * 64 + b - 128
        if (--need == 0) out = out codepoint(cp)
        continue
      }
      need = 0; lo = 128; hi = 191
      out = out "\\ufffd"
    }
    lead(b)
  }
  printf "%s", out
  out = ""
}
END {
  if (need > 0) out = out "\\ufffd"
  printf "%s\"", out
}'

say() { printf '%s\n' "$*"; }

# $1 as one single-quoted shell word.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# JSON string of a file's bytes.
json_file() { od -An -v -tu1 "$1" | awk "$JSON_AWK"; }
# JSON string of a shell string.
json_text() { printf '%s' "$1" | od -An -v -tu1 | awk "$JSON_AWK"; }

# Value of KEY in a key=value file (first match; the rest of the line, verbatim).
value_of() {
  [ -f "$2" ] || return 0
  awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$2"
}

have() { command -v "$1" >/dev/null 2>&1; }

uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# "uid gid name" for an image USER (name, uid, name:group or uid:gid; empty = root),
# looked up in the image's /etc/passwd and /etc/group like a container runtime does.
resolve_user() {
  spec=$1
  [ -n "$spec" ] || spec=0
  files=
  for f in /etc/passwd /etc/group; do [ -f "$f" ] && files="$files $f"; done
  # shellcheck disable=SC2086
  awk -F: -v spec="$spec" '
    BEGIN {
      n = index(spec, ":")
      if (n) { u = substr(spec, 1, n - 1); g = substr(spec, n + 1) } else { u = spec; g = "" }
    }
    FILENAME ~ /passwd$/ {
      if ($1 == u) { byname = 1; uid = $3; gid = $4; name = $1; home = $6 }
      else if (!byname && uid == "" && $3 == u && u ~ /^[0-9]+$/) { uid = $3; gid = $4; name = $1; home = $6 }
      next
    }
    FILENAME ~ /group$/ { if (g != "" && ($1 == g || ($3 == g && g ~ /^[0-9]+$/))) ggid = $3; next }
    END {
      if (uid == "") {
        if (u !~ /^[0-9]+$/) { print "unknown user " u > "/dev/stderr"; exit 1 }
        uid = u; gid = 0; name = "-"; home = "/"
      }
      if (g != "") {
        if (ggid != "") gid = ggid
        else if (g ~ /^[0-9]+$/) gid = g
        else { print "unknown group " g > "/dev/stderr"; exit 1 }
      }
      if (home == "") home = "/"
      print uid, gid, name, home
    }' $files </dev/null
}

# The full path of a program on PATH whose --help mentions an option (a busybox applet
# of the same name may lack it; a full path also gets past busybox's applet preference).
tool_with() {
  saved_ifs=$IFS
  IFS=:
  for d in $PATH; do
    if [ -x "$d/$1" ] && "$d/$1" --help 2>&1 | grep -q -e "$2"; then
      IFS=$saved_ifs
      say "$d/$1"
      return 0
    fi
  done
  IFS=$saved_ifs
  return 1
}

# How to start a program as uid:gid (name for su), printed as words to prefix a command:
# util-linux setpriv, else GNU chroot --userspec, else su (needs a passwd entry).
switch_user_prefix() {
  uid=$1 gid=$2 name=$3
  if [ "$uid" = 0 ] && [ "$gid" = 0 ]; then return 0; fi
  if tool=$(tool_with setpriv reuid); then say "$tool --reuid=$uid --regid=$gid --clear-groups"; return 0; fi
  if tool=$(tool_with chroot userspec); then say "$tool --userspec=$uid:$gid /"; return 0; fi
  if have su && [ "$name" != - ]; then say "su"; return 0; fi
  return 1
}

# The language table (generated from the host's declaration): code file name and the
# command that runs it ($1 = the code file, $2 = the job directory).
code_file_for() {
  case "$1" in
${codeFileCases(CASE_INDENT)}
    *) return 1 ;;
  esac
}

# First of the named programs found on PATH, else the first name (its "not found" is the error).
first_of() {
  for p in "$@"; do if have "$p"; then say "$p"; return 0; fi; done
  say "$1"
}

command_for() {
  case "$1" in
${commandCases(CASE_INDENT)}
    *) return 1 ;;
  esac
}

# Copies stdin to $1 up to $2 + 1 bytes (one more than kept tells it was cut), then drains
# the rest: a job printing without end neither fills memory nor dies of SIGPIPE.
keep_head() { head -c "$(($2 + 1))" > "$1"; cat > /dev/null; }

# SIGKILL to every live process of session $1 (the job's setsid: this catches processes
# that left its process group), pass after pass while any are found (a fork during one
# pass is caught by the next), at most 20 passes.
kill_session() {
  passes=0
  while [ "$passes" -lt 20 ]; do
    # proc(5): after the command name (which may hold spaces and parentheses) come state,
    # ppid, pgrp, session. A file gone meanwhile is a process gone: getline skips it.
    pids=$(printf '%s\n' /proc/[0-9]* | awk -v sid="$1" '
      {
        f = $0 "/stat"
        if ((getline line < f) > 0) {
          sub(/.*\) /, "", line)
          split(line, field, " ")
          if (field[4] == sid && field[1] != "Z") { sub(/^\/proc\//, ""); print }
        }
        close(f)
      }')
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -s KILL $pids 2>/dev/null
    passes=$((passes + 1))
  done
}

# Waits for the processes $2… at most $1 seconds, then kills them.
wait_at_most() {
  limit=$1
  shift
  ( sleep "$limit"; kill -s KILL "$@" 2>/dev/null ) >/dev/null 2>&1 &
  reaper=$!
  wait "$@" 2>/dev/null
  kill "$reaper" 2>/dev/null
  wait "$reaper" 2>/dev/null
}

# Writes the result JSON line. Arguments: status exitCode(or null) exception stdout-file
# stderr-file milliseconds truncated.
write_result() {
  printf '{"status":"%s","stdout":' "$1"
  if [ -f "$4" ]; then json_file "$4"; else printf '""'; fi
  printf ',"stderr":'
  if [ -s "$5" ]; then json_file "$5"; else printf 'null'; fi
  printf ',"exitCode":%s,"exception":' "$2"
  if [ -n "$3" ]; then json_text "$3"; else printf 'null'; fi
  printf ',"executionTime":%s,"truncated":%s}\n' "$6" "$7"
}

# A job that could not be started: an error result with no exit code.
fail_job() { write_result error null "$1" /dev/null /dev/null 0 false; }

# Runs the job extracted in $1 and prints its result line.
run_job() {
  inbox=$1
  manifest=$inbox/${JOB_MEMBERS.manifest}
  [ -f "$manifest" ] || { fail_job "job has no manifest"; return 0; }
  lang=$(value_of lang "$manifest")
  timeout=$(value_of timeout "$manifest")
  max_output=$(value_of max_output "$manifest")
  case "$timeout" in ''|*[!0-9]*) timeout=$DEFAULT_TIMEOUT ;; esac
  case "$max_output" in ''|*[!0-9]*) max_output=$DEFAULT_MAX_OUTPUT ;; esac
  [ -n "$lang" ] || lang=sh

  if [ -f "$inbox/${JOB_MEMBERS.command}" ]; then
    command_text=$(cat "$inbox/${JOB_MEMBERS.command}")
  else
    command_text=$(command_for "$lang") || { fail_job "unsupported language: $lang"; return 0; }
  fi
  file_name=$(value_of file "$manifest")
  [ -n "$file_name" ] || file_name=$(code_file_for "$lang") || file_name=main
  case "$file_name" in */*|.|..) fail_job "file must be a plain name: $file_name"; return 0 ;; esac

  user=$(value_of user "$manifest")
  [ -n "$user" ] || user=$(value_of user "$CONF_DIR/runner.conf")
  ids=$(resolve_user "$user" 2>&1) || { fail_job "cannot run as user $user: $ids"; return 0; }
  set -- $ids
  uid=$1 gid=$2 name=$3 home=$4
  as_user=$(switch_user_prefix "$uid" "$gid" "$name") || {
    fail_job "cannot switch to user $uid:$gid: the image has no util-linux setpriv or GNU chroot, and su needs the user in /etc/passwd"; return 0; }
  workdir=$(value_of workdir "$CONF_DIR/runner.conf")
  [ -n "$workdir" ] || workdir=/tmp
  mkdir -p "$workdir" 2>/dev/null

  jobdir=$(mktemp -d /tmp/infra.operator-job.XXXXXX) || { fail_job "cannot create a job directory in /tmp"; return 0; }
  if [ -d "$inbox/${JOB_MEMBERS.files}" ]; then cp -R "$inbox/${JOB_MEMBERS.files}." "$jobdir/"; fi
  if [ -f "$inbox/${JOB_MEMBERS.code}" ]; then cp "$inbox/${JOB_MEMBERS.code}" "$jobdir/$file_name"; else : > "$jobdir/$file_name"; fi
  {
    say 'infra_first() { for p in "$@"; do if command -v "$p" >/dev/null 2>&1; then printf "%s\n" "$p"; return 0; fi; done; printf "%s\n" "$1"; }'
    printf '%s\n' "$command_text"
  } > "$jobdir/.command.sh"
  {
    say "HOME=$(quote "$home"); export HOME"
    say "[ -f '$CONF_DIR/image.env' ] && . '$CONF_DIR/image.env'"
    say "cd $(quote "$workdir") || exit 126"
    say "exec /bin/sh '$jobdir/.command.sh' '$jobdir/$file_name' '$jobdir'"
  } > "$jobdir/.run.sh"
  chown -R "$uid:$gid" "$jobdir" 2>/dev/null
  out=$STATE_DIR/stdout err=$STATE_DIR/stderr flag=$STATE_DIR/timed-out
  rm -f "$flag" "$out" "$err" "$out.fifo" "$err.fifo"
  mkfifo "$out.fifo" "$err.fifo" || { fail_job "cannot make pipes in $STATE_DIR"; rm -rf "$jobdir"; return 0; }
  keep_head "$out" "$max_output" < "$out.fifo" &
  keepers=$!
  keep_head "$err" "$max_output" < "$err.fifo" &
  keepers="$keepers $!"

  # A new session makes the job a process group we can kill whole on timeout.
  session=
  have setsid && session=setsid
  start=$(uptime_ms)
  if [ "$as_user" = su ]; then
    $session su -m -s /bin/sh "$name" -c "/bin/sh $jobdir/.run.sh" </dev/null >"$out.fifo" 2>"$err.fifo" &
  else
    $session $as_user /bin/sh "$jobdir/.run.sh" </dev/null >"$out.fifo" 2>"$err.fifo" &
  fi
  pid=$!
  (
    waited=0
    while [ "$waited" -lt "$timeout" ]; do
      sleep 1
      kill -0 "$pid" 2>/dev/null || exit 0
      waited=$((waited + 1))
    done
    : > "$flag"
    kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null
  ) &
  watchdog=$!
  wait "$pid" 2>/dev/null
  code=$?
  end=$(uptime_ms)
  kill "$watchdog" 2>/dev/null
  wait "$watchdog" 2>/dev/null
  # Whatever the job left behind goes too, before the result is written: nothing of the
  # job may print on the console between the markers or hold the output pipes open.
  kill -s KILL -- "-$pid" 2>/dev/null
  kill_session "$pid"
  if [ "$uid" != 0 ]; then
    if [ "$as_user" = su ]; then su -m -s /bin/sh "$name" -c 'kill -s KILL -- -1' 2>/dev/null
    else $as_user /bin/sh -c 'kill -s KILL -- -1' 2>/dev/null; fi
  fi
  # shellcheck disable=SC2086
  wait_at_most 10 $keepers
  rm -f "$out.fifo" "$err.fifo"

  truncated=false
  for f in "$out" "$err"; do
    if [ "$(wc -c < "$f")" -gt "$max_output" ]; then
      head -c "$max_output" "$f" > "$f.cut" && mv "$f.cut" "$f"
      truncated=true
    fi
  done
  if [ -f "$flag" ]; then
    status=timeout exception="timed out after $timeout s"
  elif [ "$code" -eq 0 ]; then
    status=success exception=
  else
    status=error exception="exited with code $code"
  fi
  write_result "$status" "$code" "$exception" "$out" "$err" $((end - start)) "$truncated"
  rm -rf "$jobdir"
}

# Prints the run's secret and wipes it before any job runs: the extracted member is
# removed and its sector on the job disk zeroed (and flushed), so that the job cannot read
# it back. A job that knows no secret cannot print marker lines the host accepts.
take_secret() {
  value=$(cat "$1/${JOB_MEMBERS.secret}" 2>/dev/null)
  rm -f "$1/${JOB_MEMBERS.secret}"
  if ! dd if=/dev/zero of="$JOB_DEVICE" bs=512 seek=${SECRET_SECTOR} count=1 conv=notrunc 2>/dev/null || ! sync; then
    say "infra.operator guest: cannot wipe the secret on $JOB_DEVICE (read-only?); a root job could read it" >&2
  fi
  case "$value" in *[!0-9a-f]*) value= ;; esac
  say "$value"
}

power_off() {
  sync
  case "$(value_of init "$CONF_DIR/runner.conf")" in
    busybox|minimal) kill -s USR2 1 ;;
    # OpenRC or the image's own init: its poweroff, or openrc-init's openrc-shutdown.
    *) poweroff 2>/dev/null || openrc-shutdown -p now 2>/dev/null || kill -s USR2 1 ;;
  esac
  # An init that ignores the request must not leave the VM running forever.
  sleep 30
  say "infra.operator guest: init did not power off; forcing it"
  sync
  echo o > /proc/sysrq-trigger
}

guest() {
  # A leading newline: a console prompt may have left the cursor mid-line.
  printf '\n%s\n' "$READY_LINE"
  waited=0
  while [ ! -e "$JOB_DEVICE" ] && [ "$waited" -lt 10 ]; do sleep 1; waited=$((waited + 1)); done
  if [ ! -e "$JOB_DEVICE" ]; then
    say "infra.operator guest: no job disk at $JOB_DEVICE; nothing to run"
    return 0
  fi
  inbox=$STATE_DIR/job
  rm -rf "$inbox"
  mkdir -p "$inbox"
  secret=
  if tar -xf "$JOB_DEVICE" -C "$inbox" 2>"$STATE_DIR/tar.err"; then
    secret=$(take_secret "$inbox")
    say "$RUNNING_LINE"
    run_job "$inbox" > "$STATE_DIR/result.json"
  else
    fail_job "cannot read the job disk $JOB_DEVICE: $(cat "$STATE_DIR/tar.err")" > "$STATE_DIR/result.json"
  fi
  printf '\n%s %s\n' "$RESULT_BEGIN" "$secret"
  cat "$STATE_DIR/result.json"
  say "$RESULT_END $secret"
  if [ "$(value_of poweroff "$inbox/${JOB_MEMBERS.manifest}")" = 1 ]; then power_off; fi
}

main() {
  mkdir -p "$STATE_DIR"
  case "$1" in
    guest) guest ;;
    run-job) run_job "$2" ;;
    json-string) json_file "$2"; echo ;;
    *) say "usage: infra.operator guest | run-job DIR | json-string FILE" >&2; exit 2 ;;
  esac
}

main "$@"
`;
