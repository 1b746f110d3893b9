#!/bin/bash
# sipr and Kamailio 5.6 as the two proxies of the SIP trapezoid, in both
# directions, SIPp at the ends:
#   caller -> sipr (rule: domain=k.test -> forward to Kamailio) -> Kamailio
#             (location of k.test) -> callee registered at Kamailio
#   caller -> Kamailio (relays other domains) -> sipr (location) -> callee
#             registered at sipr
# Each callee sees both Record-Routes; ACK and BYE pass both proxies.
# usage: kamailio.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
KAM=$(command -v kamailio || { [ -x /usr/sbin/kamailio ] && echo /usr/sbin/kamailio; })
if [ -z "$KAM" ]; then
  echo "FAIL: kamailio (Debian package kamailio) is not installed; run scripts/deps.sh" >&2
  exit 1
fi
KAM_MODS=
for d in /usr/lib/x86_64-linux-gnu/kamailio/modules /usr/lib/kamailio/modules \
         /usr/lib64/kamailio/modules /usr/local/lib64/kamailio/modules; do
  [ -f "$d/registrar.so" ] && { KAM_MODS=$d; break; }
done
if [ -z "$KAM_MODS" ]; then
  echo "FAIL: kamailio's registrar module not found" >&2
  exit 1
fi

PA=$(free_port)
PK=$(free_port)
mkdir -p "$WORK/kam"
cat >"$WORK/kam/kamailio.cfg" <<CFG
debug=1
log_stderror=yes
listen=udp:127.0.0.1:$PK
auto_aliases=no
children=2
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
  if (\$rd == "k.test" || uri == myself) {
    if (!lookup("location")) {
      sl_send_reply("404", "Not Found");
      exit;
    }
  }
  t_relay();
}
CFG
"$KAM" -c -f "$WORK/kam/kamailio.cfg" >"$WORK/kam/check.log" 2>&1
eq "kamailio accepts the config" "$?" 0
"$KAM" -f "$WORK/kam/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$WORK/kam" \
  -P "$WORK/kam/kamailio.pid" >"$WORK/kam/kamailio.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for _ in $(seq 100); do port_bound udp "$PK" && break; sleep 0.05; done
sleep 0.5 # its children finish forking
check "kamailio is up on udp 127.0.0.1:$PK" port_bound udp "$PK"

printf 'rules:\n  - "domain=k.test -> forward sip:127.0.0.1:%s"\n' "$PK" >"$WORK/a.yaml"
start_proxy a "$PA" --auth off --domain a.test -c "$WORK/a.yaml" || finish

echo "== caller -> sipr -> Kamailio -> callee"
U=$(free_port)
uas bob uas_answer.xml "$U"
register bob "$U" "$PK" 1.0 k.test
eq "bob@k.test registered at Kamailio" "$?" 0
uac call1 uac_call.xml "$PA" -key ruri "sip:bob@k.test" -key from_domain a.test
eq "call through sipr then Kamailio (sipp status)" "$?" 0
uas_wait bob
eq "callee: INVITE, ACK, BYE (sipp status)" "$?" 0
rr=$(received bob INVITE | grep '^Record-Route:' | tr -d '\r')
check "Kamailio's Record-Route on top of sipr's" \
  bash -c 'grep -q "127.0.0.1:$2" <<<"$(sed -n 1p <<<"$1")" && grep -q "<sip:127.0.0.1:$3;lr>" <<<"$(sed -n 2p <<<"$1")"' _ "$rr" "$PK" "$PA"
for m in ACK BYE; do
  vias=$(received bob "$m" | grep '^Via:' | head -2 | tr -d '\r')
  check "$m passed Kamailio after sipr" \
    bash -c 'grep -q "127.0.0.1:$2" <<<"$(sed -n 1p <<<"$1")" && grep -q "127.0.0.1:$3;branch" <<<"$(sed -n 2p <<<"$1")"' _ "$vias" "$PK" "$PA"
done

echo "== caller -> Kamailio -> sipr -> callee"
U=$(free_port)
uas carl uas_answer.xml "$U"
register carl "$U" "$PA"
eq "carl registered at sipr" "$?" 0
uac call2 uac_call.xml "$PK" -key ruri "sip:carl@127.0.0.1:$PA" -key from_domain k.test
eq "call through Kamailio then sipr (sipp status)" "$?" 0
uas_wait carl
eq "callee: INVITE, ACK, BYE (sipp status)" "$?" 0
rr=$(received carl INVITE | grep '^Record-Route:' | tr -d '\r')
check "sipr's Record-Route on top of Kamailio's" \
  bash -c 'grep -q "<sip:127.0.0.1:$3;lr>" <<<"$(sed -n 1p <<<"$1")" && grep -q "127.0.0.1:$2" <<<"$(sed -n 2p <<<"$1")"' _ "$rr" "$PK" "$PA"
for m in ACK BYE; do
  vias=$(received carl "$m" | grep '^Via:' | head -2 | tr -d '\r')
  check "$m passed sipr after Kamailio" \
    bash -c 'grep -q "127.0.0.1:$3;branch" <<<"$(sed -n 1p <<<"$1")" && grep -q "127.0.0.1:$2" <<<"$(sed -n 2p <<<"$1")"' _ "$vias" "$PK" "$PA"
done
stop_proxy a
dump_logs a call1 bob call2 carl
[ "$FAILS" -ne 0 ] && tail -n 20 "$WORK/kam/kamailio.log"
finish
