# tests/lib/kamailio.sh: Kamailio 5.6 (Debian package kamailio) as a peer,
# shared by the interop tests and the benchmarks: where it is, and one
# configuration written alike for all of them.
#
# The configuration is a registrar (usrloc in memory, db_mode 0) and a
# stateful proxy (tm, rr): in-dialog requests follow loose_route(),
# CANCEL goes where its INVITE went, REGISTER is saved, OPTIONS to
# Kamailio itself is answered by sl, INVITEs are record-routed, requests
# for the served domains go to the location service, the rest is relayed.
# Sourced; defines functions only.

# kamailio_find: sets KAM (the binary) and KAM_MODS (its module folder);
# returns 1 with the reason on stderr when either is missing.
kamailio_find() {
  KAM=$(command -v kamailio || { [ -x /usr/sbin/kamailio ] && echo /usr/sbin/kamailio; })
  if [ -z "$KAM" ]; then
    echo "kamailio (Debian package kamailio) is not installed; run scripts/deps.sh" >&2
    return 1
  fi
  KAM_MODS=
  local d
  for d in /usr/lib/x86_64-linux-gnu/kamailio/modules /usr/lib/kamailio/modules \
           /usr/lib64/kamailio/modules /usr/local/lib64/kamailio/modules; do
    [ -f "$d/registrar.so" ] && { KAM_MODS=$d; break; }
  done
  if [ -z "$KAM_MODS" ]; then
    echo "kamailio's registrar module not found" >&2
    return 1
  fi
}

# kamailio_cfg FILE PORT [CHILDREN [LOOKUP]]: writes the configuration for
# udp:127.0.0.1:PORT with CHILDREN UDP workers (default 2). LOOKUP is the
# condition under which a request goes to the location service (a
# Kamailio expression; default: always).
kamailio_cfg() {
  local file=$1 port=$2 children=${3:-2} lookup=${4:-1 == 1}
  cat >"$file" <<CFG
#!KAMAILIO
debug=1
log_stderror=yes
listen=udp:127.0.0.1:$port
auto_aliases=no
children=$children
disable_tcp=yes
mpath="$KAM_MODS/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "gruu_enabled", 0)

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (!sanity_check()) {
    exit;
  }
  if (is_method("OPTIONS") && uri == myself && \$rU == \$null) {
    sl_send_reply("200", "OK");
    exit;
  }
  if (has_totag()) {
    if (loose_route()) {
      t_relay();
      exit;
    }
    if (is_method("ACK")) {
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) {
    if (t_check_trans()) {
      t_relay();
    }
    exit;
  }
  if (is_method("REGISTER")) {
    if (!save("location")) {
      sl_reply_error();
    }
    exit;
  }
  if (is_method("INVITE")) {
    record_route();
  }
  if ($lookup) {
    if (!lookup("location")) {
      sl_send_reply("404", "Not Found");
      exit;
    }
  }
  t_relay();
}
CFG
}
