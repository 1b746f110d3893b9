#!/bin/bash
# Forking (RFC 3261 §16.5-§16.7) through one sipr proxy, SIPp callees
# registered under one user:
#   parallel: three callees ring, one answers 200, the other two get
#             CANCEL (§16.7 step 10) and the caller gets the 200
#   parallel: 486 from one, 603 from another: the 6xx cancels the third
#             and wins (§16.7 steps 5-6)
#   sequential (fork: sequential): by q, the next group only after the
#             first failed (486), which the first callee sees uncancelled
# usage: forking.sh SIPR
SIPR=$1
LIMIT=120
. "$(dirname "$0")/lib.sh"

P=$(free_port)
start_proxy px "$P" --auth off --domain 127.0.0.1 || finish

echo "== parallel: one answers, the others are cancelled"
U1=$(free_port); U2=$(free_port); U3=$(free_port)
uas f1 uas_answer.xml "$U1"
uas f2 uas_ring.xml "$U2"
uas f3 uas_ring.xml "$U3"
for u in "$U1" "$U2" "$U3"; do
  register fred "$u" "$P"
  eq "fred registered at $u" "$?" 0
done
uac call uac_call.xml "$P" -key ruri "sip:fred@127.0.0.1:$P" -key from_domain 127.0.0.1
eq "caller gets the 200 and completes the call (sipp status)" "$?" 0
uas_wait f1
eq "the answering callee got ACK and BYE (sipp status)" "$?" 0
uas_wait f2
eq "second callee was cancelled: CANCEL, 487, ACK (sipp status)" "$?" 0
uas_wait f3
eq "third callee was cancelled: CANCEL, 487, ACK (sipp status)" "$?" 0
n=$(received call 200 | grep -c '^CSeq: 1 INVITE')
eq "the caller got one 200 for the INVITE (retransmissions aside)" "$([ "$n" -ge 1 ] && echo yes)" yes

echo "== parallel: 486 and 603, the 6xx wins and cancels the third"
U1=$(free_port); U2=$(free_port); U3=$(free_port)
uas g1 "$(scen uas_reject.xml CODE=486 REASON='Busy Here' DELAY=300)" "$U1"
uas g2 "$(scen uas_reject.xml CODE=603 REASON=Decline DELAY=1200)" "$U2"
uas g3 uas_ring.xml "$U3"
for u in "$U1" "$U2" "$U3"; do
  register gina "$u" "$P"
done
uac decline "$(scen uac_fail.xml CODE=603)" "$P" -key ruri "sip:gina@127.0.0.1:$P" -key from_domain 127.0.0.1
eq "caller gets 603 (sipp status)" "$?" 0
check "caller never saw the 486" bash -c '! grep -q "^SIP/2.0 486" "$1"' _ "$WORK/decline.msg"
uas_wait g1
eq "486 callee got its ACK (sipp status)" "$?" 0
uas_wait g2
eq "603 callee got its ACK (sipp status)" "$?" 0
uas_wait g3
eq "ringing callee was cancelled by the 6xx (sipp status)" "$?" 0
stop_proxy px

echo "== sequential by q"
printf 'fork: sequential\nfork_timeout: 10\n' >"$WORK/seq.yaml"
P=$(free_port)
start_proxy seq "$P" --auth off --domain 127.0.0.1 -c "$WORK/seq.yaml" || finish
U1=$(free_port); U2=$(free_port)
uas h1 "$(scen uas_reject.xml CODE=486 REASON='Busy Here' DELAY=1000)" "$U1"
uas h2 uas_answer.xml "$U2"
register hank "$U2" "$P" 0.5
register hank "$U1" "$P" 1.0
uac seqcall uac_call.xml "$P" -key ruri "sip:hank@127.0.0.1:$P" -key from_domain 127.0.0.1
eq "caller gets the 200 of the second group (sipp status)" "$?" 0
uas_wait h1
eq "q=1.0 callee was tried first and not cancelled: 486, ACK (sipp status)" "$?" 0
uas_wait h2
eq "q=0.5 callee answered after that (sipp status)" "$?" 0
check "the caller heard the first callee ring before the second answered" \
  grep -q "^SIP/2.0 180" "$WORK/seqcall.msg"
stop_proxy seq
dump_logs px seq call f1 f2 f3 decline g1 g2 g3 seqcall h1 h2
finish
