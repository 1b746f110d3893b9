/*
 * Store layer: the same ops-table tests over "memory" and "sqlite:PATH",
 * then sqlite persistence, group commit and a kill -9 crash test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sipr/store.h"

#define NOW 1700000000LL

typedef struct fx {
  char dir[64];
  char spec[128];
  int sqlite;
  sipr_store_t *st;
} fx_t;

static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static sipr_store_t *open_cfg(fx_t *f, const sipr_store_cfg_t *cfg) {
  char err[256] = "";
  sipr_store_t *st = sipr_store_open(f->spec, cfg, err, sizeof(err));
  if (!st)
    fprintf(stderr, "open %s: %s\n", f->spec, err);
  assert_non_null(st);
  return st;
}

static int setup_common(void **state, int sqlite) {
  fx_t *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/sipr-store-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  f->sqlite = sqlite;
  if (sqlite)
    snprintf(f->spec, sizeof(f->spec), "sqlite:%s/var/t.db", f->dir);
  else
    snprintf(f->spec, sizeof(f->spec), "memory");
  f->st = open_cfg(f, NULL);
  *state = f;
  return 0;
}
static int setup_mem(void **state) { return setup_common(state, 0); }
static int setup_sql(void **state) { return setup_common(state, 1); }

static int teardown(void **state) {
  fx_t *f = *state;
  sipr_store_close(f->st);
  char var[96];
  snprintf(var, sizeof(var), "%s/var", f->dir);
  rm_dir(var);
  rm_dir(f->dir);
  free(f);
  return 0;
}

static sipr_loc_change_t set(const char *contact, int64_t expires, int q,
                             const char *call_id, uint32_t cseq) {
  sipr_loc_change_t c;
  memset(&c, 0, sizeof(c));
  c.op = SIPR_LOC_SET;
  c.b.contact = contact;
  c.b.expires = expires;
  c.b.q = q;
  c.b.call_id = call_id;
  c.b.cseq = cseq;
  return c;
}

static size_t nlive(sipr_store_t *st, const char *aor, int64_t now) {
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_lookup(st, aor, now, &l), 0);
  size_t n = l.n;
  sipr_binding_list_free(&l);
  return n;
}

/* ---- ops-table tests (both backends) ------------------------------------*/

static void test_add_lookup(void **state) {
  fx_t *f = *state;
  const char *aor = "sip:alice@example.com";
  sipr_loc_change_t c[2] = {
      set("sip:alice@192.0.2.1:5060;transport=tcp", NOW + 3600, 500, "c1", 1),
      set("sip:alice@192.0.2.2", NOW + 600, 900, "c1", 1)};
  c[0].b.params = ";+sip.instance=\"<urn:uuid:1>\";reg-id=1";
  c[0].b.instance = "<urn:uuid:1>";
  c[0].b.reg_id = 1;
  c[0].b.path = "<sip:p1.example.com;lr>,<sip:p2.example.com;lr>";
  c[0].b.received = "tcp:192.0.2.1:40000";
  c[0].b.user_agent = "test/1";
  sipr_binding_list_t out;
  assert_int_equal(sipr_store_apply_sync(f->st, aor, c, 2, NOW, 0, &out), 0);
  assert_int_equal(out.n, 2);
  assert_string_equal(out.v[0].contact, "sip:alice@192.0.2.2"); /* q 0.9 */
  assert_string_equal(out.v[1].contact,
                      "sip:alice@192.0.2.1:5060;transport=tcp");
  sipr_binding_list_free(&out);

  sipr_binding_list_t l;
  assert_int_equal(sipr_store_lookup(f->st, aor, NOW, &l), 0);
  assert_int_equal(l.n, 2);
  const sipr_binding_t *b = &l.v[1];
  assert_string_equal(b->aor, aor);
  assert_string_equal(b->params, ";+sip.instance=\"<urn:uuid:1>\";reg-id=1");
  assert_string_equal(b->instance, "<urn:uuid:1>");
  assert_int_equal(b->reg_id, 1);
  assert_string_equal(b->path,
                      "<sip:p1.example.com;lr>,<sip:p2.example.com;lr>");
  assert_string_equal(b->received, "tcp:192.0.2.1:40000");
  assert_string_equal(b->user_agent, "test/1");
  assert_string_equal(b->call_id, "c1");
  assert_int_equal(b->q, 500);
  assert_int_equal(b->expires, NOW + 3600);
  assert_string_equal(l.v[0].params, "");
  sipr_binding_list_free(&l);
  assert_int_equal(nlive(f->st, "sip:bob@example.com", NOW), 0);
  assert_int_equal(sipr_store_count(f->st), 2);
}

static void test_update_order_remove(void **state) {
  fx_t *f = *state;
  const char *aor = "sip:bob@example.com";
  sipr_loc_change_t a = set("sip:bob@h1", NOW + 100, -1, "x", 1);
  sipr_loc_change_t b = set("sip:bob@h2", NOW + 100, -1, "x", 2);
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &a, 1, NOW, 0, NULL), 0);
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &b, 1, NOW, 0, NULL), 0);
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_lookup(f->st, aor, NOW, &l), 0);
  assert_int_equal(l.n, 2); /* equal q: most recent first */
  assert_string_equal(l.v[0].contact, "sip:bob@h2");
  sipr_binding_list_free(&l);
  /* Refresh h1: now the most recent, new expiry, still 2 bindings. */
  a = set("sip:bob@h1", NOW + 500, -1, "x", 3);
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &a, 1, NOW + 1, 0, &l),
                   0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0].contact, "sip:bob@h1");
  assert_int_equal(l.v[0].expires, NOW + 500);
  assert_int_equal(l.v[0].updated, NOW + 1);
  sipr_binding_list_free(&l);
  /* Replace through match (the caller judged the URIs equivalent). */
  a = set("sip:bob@H1", NOW + 500, -1, "x", 4);
  a.match = "sip:bob@h1";
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &a, 1, NOW + 1, 0, &l),
                   0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0].contact, "sip:bob@H1");
  sipr_binding_list_free(&l);
  /* Remove one; removing an absent one is a no-op. */
  sipr_loc_change_t r = {.op = SIPR_LOC_REMOVE, .b.contact = "sip:bob@h2"};
  sipr_loc_change_t r2 = {.op = SIPR_LOC_REMOVE, .b.contact = "sip:nobody"};
  sipr_loc_change_t rr[2] = {r, r2};
  assert_int_equal(sipr_store_apply_sync(f->st, aor, rr, 2, NOW + 2, 0, &l),
                   0);
  assert_int_equal(l.n, 1);
  sipr_binding_list_free(&l);
  /* SET with expires <= now is a removal. */
  a = set("sip:bob@H1", NOW + 2, -1, "x", 5);
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &a, 1, NOW + 2, 0, &l),
                   0);
  assert_int_equal(l.n, 0);
  assert_int_equal(sipr_store_count(f->st), 0);
  /* Remove-all. */
  sipr_loc_change_t s3[3] = {set("sip:1", NOW + 9, -1, "y", 1),
                             set("sip:2", NOW + 9, -1, "y", 1),
                             set("sip:3", NOW + 9, -1, "y", 1)};
  assert_int_equal(sipr_store_apply_sync(f->st, aor, s3, 3, NOW, 0, NULL), 0);
  sipr_loc_change_t all = {.op = SIPR_LOC_REMOVE_ALL};
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &all, 1, NOW, 0, NULL),
                   0);
  assert_int_equal(nlive(f->st, aor, NOW), 0);
  assert_int_equal(sipr_store_count(f->st), 0);
}

static void test_cseq_atomic(void **state) {
  fx_t *f = *state;
  const char *aor = "sip:carol@example.com";
  sipr_loc_change_t c[2] = {set("sip:c@h1", NOW + 100, -1, "cid", 10),
                            set("sip:c@h2", NOW + 100, -1, "other", 3)};
  unsigned fl = SIPR_STORE_CHECK_CSEQ;
  assert_int_equal(sipr_store_apply_sync(f->st, aor, c, 2, NOW, fl, NULL), 0);
  /* Same Call-ID, CSeq not higher: the whole request fails. */
  sipr_loc_change_t u[2] = {set("sip:c@h3", NOW + 100, -1, "cid", 10),
                            set("sip:c@h1", NOW + 200, -1, "cid", 10)};
  assert_int_equal(sipr_store_apply_sync(f->st, aor, u, 2, NOW, fl, NULL),
                   SIPR_ERANGE);
  assert_int_equal(nlive(f->st, aor, NOW), 2);
  /* Without the flag the store just applies. */
  assert_int_equal(sipr_store_apply_sync(f->st, aor, u, 2, NOW, 0, NULL), 0);
  assert_int_equal(nlive(f->st, aor, NOW), 3);
  /* An invalid change (no contact, bad q) changes nothing. */
  sipr_loc_change_t bad[2] = {set("sip:c@h4", NOW + 100, -1, "z", 1),
                              set("", NOW + 100, -1, "z", 1)};
  assert_int_equal(sipr_store_apply_sync(f->st, aor, bad, 2, NOW, 0, NULL),
                   SIPR_EINVAL);
  bad[1] = set("sip:c@h5", NOW + 100, 1001, "z", 1);
  assert_int_equal(sipr_store_apply_sync(f->st, aor, bad, 2, NOW, 0, NULL),
                   SIPR_EINVAL);
  assert_int_equal(nlive(f->st, aor, NOW), 3);
  /* "*" with the check keeps the binding whose Call-ID agrees and whose
   * CSeq is not lower (§10.3 step 6). */
  sipr_loc_change_t all = {.op = SIPR_LOC_REMOVE_ALL};
  all.b.call_id = "cid";
  all.b.cseq = 10;
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &all, 1, NOW, fl, &l), 0);
  assert_int_equal(l.n, 2); /* h1 and h3 (cid, 10) kept; h2 removed */
  sipr_binding_list_free(&l);
  all.b.cseq = 11;
  assert_int_equal(sipr_store_apply_sync(f->st, aor, &all, 1, NOW, fl, &l), 0);
  assert_int_equal(l.n, 0);
}

static void test_caps(void **state) {
  fx_t *f = *state;
  sipr_store_close(f->st);
  sipr_store_cfg_t cfg;
  sipr_store_cfg_default(&cfg);
  assert_int_equal(cfg.max_per_aor, 16);
  cfg.max_per_aor = 3;
  cfg.max_total = 5;
  f->st = open_cfg(f, &cfg);
  sipr_loc_change_t c[4] = {set("sip:1", NOW + 50, -1, "a", 1),
                            set("sip:2", NOW + 50, -1, "a", 1),
                            set("sip:3", NOW + 50, -1, "a", 1),
                            set("sip:4", NOW + 50, -1, "a", 1)};
  assert_int_equal(sipr_store_apply_sync(f->st, "sip:a@x", c, 4, NOW, 0, NULL),
                   SIPR_ETOOBIG);
  assert_int_equal(sipr_store_count(f->st), 0);
  assert_int_equal(sipr_store_apply_sync(f->st, "sip:a@x", c, 3, NOW, 0, NULL),
                   0);
  assert_int_equal(
      sipr_store_apply_sync(f->st, "sip:a@x", &c[3], 1, NOW, 0, NULL),
      SIPR_ETOOBIG);
  /* Refreshing at the cap is fine. */
  assert_int_equal(sipr_store_apply_sync(f->st, "sip:a@x", c, 3, NOW, 0, NULL),
                   0);
  assert_int_equal(sipr_store_apply_sync(f->st, "sip:b@x", c, 2, NOW, 0, NULL),
                   0);
  assert_int_equal(
      sipr_store_apply_sync(f->st, "sip:c@x", &c[3], 1, NOW, 0, NULL),
      SIPR_ETOOBIG); /* total */
  sipr_store_stats_t s;
  sipr_store_get_stats(f->st, &s);
  assert_int_equal(s.refused_caps, 3);
  assert_int_equal(s.bindings, 5);
}

static void test_expiry(void **state) {
  fx_t *f = *state;
  assert_int_equal(sipr_store_next_expiry(f->st), -1);
  /* 200 AORs with scattered expiries, 1-2 bindings each. */
  size_t total = 0;
  for (int i = 0; i < 200; i++) {
    char aor[64];
    snprintf(aor, sizeof(aor), "sip:u%d@x", i);
    int64_t e1 = NOW + 1 + (i * 37) % 101, e2 = NOW + 1 + (i * 53) % 97;
    sipr_loc_change_t c[2] = {set("sip:a", e1, -1, "c", 1),
                              set("sip:b", e2, -1, "c", 1)};
    size_t n = (i % 3) ? 2 : 1;
    assert_int_equal(sipr_store_apply_sync(f->st, aor, c, n, NOW, 0, NULL), 0);
    total += n;
  }
  assert_int_equal(sipr_store_count(f->st), total);
  int64_t t = NOW;
  size_t removed = 0;
  int64_t next;
  while ((next = sipr_store_next_expiry(f->st)) >= 0) {
    assert_true(next > t); /* strictly ahead of what was expired */
    /* Nothing is due before next. */
    assert_int_equal(sipr_store_expire(f->st, next - 1), 0);
    t = next;
    size_t k = sipr_store_expire(f->st, t);
    assert_true(k > 0);
    removed += k;
    assert_int_equal(sipr_store_count(f->st), total - removed);
  }
  assert_int_equal(removed, total);
  /* Lookups hide what is due even before expire() runs. */
  sipr_loc_change_t c = set("sip:z", NOW + 10, -1, "c", 1);
  assert_int_equal(sipr_store_apply_sync(f->st, "sip:z@x", &c, 1, NOW, 0, NULL),
                   0);
  assert_int_equal(nlive(f->st, "sip:z@x", NOW + 9), 1);
  assert_int_equal(nlive(f->st, "sip:z@x", NOW + 10), 0);
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_list(f->st, NULL, NOW, &l), 0);
  assert_int_equal(l.n, 1);
  sipr_binding_list_free(&l);
  sipr_store_stats_t s;
  sipr_store_get_stats(f->st, &s);
  assert_int_equal(s.expired, total);
}

static void test_list(void **state) {
  fx_t *f = *state;
  const char *aors[] = {"sip:b@x", "sip:a@x", "sip:a@y"};
  for (int i = 0; i < 3; i++) {
    sipr_loc_change_t c[2] = {set("sip:1", NOW + 10, 100, "c", 1),
                              set("sip:2", NOW + 10, 200, "c", 1)};
    assert_int_equal(sipr_store_apply_sync(f->st, aors[i], c, 2, NOW, 0, NULL),
                     0);
  }
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_list(f->st, "sip:a@", NOW, &l), 0);
  assert_int_equal(l.n, 4);
  assert_string_equal(l.v[0].aor, "sip:a@x");
  assert_string_equal(l.v[0].contact, "sip:2");
  assert_string_equal(l.v[3].aor, "sip:a@y");
  sipr_binding_list_free(&l);
  assert_int_equal(sipr_store_list(f->st, "", NOW, &l), 0);
  assert_int_equal(l.n, 6);
  sipr_binding_list_free(&l);
}

static void test_creds(void **state) {
  fx_t *f = *state;
  const char *md5 = "939e7578ed9e3c518a452acee763bce9";
  const char *sha = "8F8A7C1B0A8F8A7C1B0A8F8A7C1B0A8F8A7C1B0A8F8A7C1B0A8F8A7C1B0A"
                    "1234";
  char ha1[65];
  assert_int_equal(sipr_store_cred_put(f->st, "alice", "sipr", "md5", md5), 0);
  assert_int_equal(sipr_store_cred_put(f->st, "alice", "sipr", "SHA-256", sha),
                   0);
  assert_int_equal(sipr_store_cred_put(f->st, "bob", "sipr", "MD5", md5), 0);
  assert_int_equal(sipr_store_cred_put(f->st, "bob", "other", "MD5", md5), 0);
  assert_int_equal(sipr_store_cred_put(f->st, "x", "sipr", "SHA1", md5),
                   SIPR_EINVAL);
  assert_int_equal(sipr_store_cred_put(f->st, "x", "sipr", "MD5", sha),
                   SIPR_EINVAL);
  assert_int_equal(
      sipr_store_cred_put(f->st, "x", "sipr", "MD5",
                          "g39e7578ed9e3c518a452acee763bce9"),
      SIPR_EINVAL);
  assert_int_equal(sipr_store_cred_put(f->st, "", "sipr", "MD5", md5),
                   SIPR_EINVAL);
  assert_int_equal(
      sipr_store_cred_get(f->st, "alice", "sipr", "MD5", ha1, sizeof(ha1)), 0);
  assert_string_equal(ha1, md5);
  assert_int_equal(
      sipr_store_cred_get(f->st, "alice", "sipr", "sha-256", ha1, sizeof(ha1)),
      0);
  assert_int_equal(strlen(ha1), 64);
  assert_int_equal(ha1[0], '8');
  assert_int_equal(ha1[1], 'f'); /* stored lower-case */
  assert_int_equal(
      sipr_store_cred_get(f->st, "alice", "other", "MD5", ha1, sizeof(ha1)),
      SIPR_ENOENT);
  /* Replace. */
  const char *md5b = "00000000000000000000000000000001";
  assert_int_equal(sipr_store_cred_put(f->st, "alice", "sipr", "MD5", md5b),
                   0);
  assert_int_equal(
      sipr_store_cred_get(f->st, "alice", "sipr", "MD5", ha1, sizeof(ha1)), 0);
  assert_string_equal(ha1, md5b);
  sipr_cred_list_t cl;
  assert_int_equal(sipr_store_cred_list(f->st, &cl), 0);
  assert_int_equal(cl.n, 4);
  assert_string_equal(cl.v[0].realm, "other"); /* realm, user, algorithm */
  assert_string_equal(cl.v[1].user, "alice");
  assert_string_equal(cl.v[1].algorithm, "MD5");
  assert_string_equal(cl.v[2].algorithm, "SHA-256");
  assert_string_equal(cl.v[3].user, "bob");
  sipr_cred_list_free(&cl);
  assert_int_equal(sipr_store_cred_del(f->st, "alice", "sipr"), 0);
  assert_int_equal(sipr_store_cred_del(f->st, "alice", "sipr"), SIPR_ENOENT);
  assert_int_equal(sipr_store_cred_del(f->st, "bob", NULL), 0);
  assert_int_equal(sipr_store_cred_list(f->st, &cl), 0);
  assert_int_equal(cl.n, 0);
  sipr_cred_list_free(&cl);
}

typedef struct done_rec {
  atomic_int calls, ok;
  atomic_size_t last_n;
} done_rec_t;

static void on_done(void *arg, int rc, const sipr_binding_list_t *res) {
  done_rec_t *d = arg;
  atomic_fetch_add(&d->calls, 1);
  if (rc == 0) {
    atomic_fetch_add(&d->ok, 1);
    atomic_store(&d->last_n, res->n);
  }
}

static void test_async(void **state) {
  fx_t *f = *state;
  done_rec_t d = {0};
  sipr_loc_change_t c = set("sip:h", NOW + 10, -1, "c", 1);
  assert_int_equal(sipr_store_apply(f->st, "sip:q@x", &c, 1, NOW, 0, NULL,
                                    on_done, &d),
                   0);
  if (!f->sqlite)
    assert_int_equal(atomic_load(&d.calls), 1); /* inline */
  sipr_store_flush(f->st);
  assert_int_equal(atomic_load(&d.ok), 1);
  assert_int_equal(atomic_load(&d.last_n), 1);
  /* Through a loop: never before apply returns; runs on the loop. */
  sipr_loop_t *loop = sipr_loop_new(NULL);
  assert_non_null(loop);
  c = set("sip:h2", NOW + 10, -1, "c", 2);
  assert_int_equal(sipr_store_apply(f->st, "sip:q@x", &c, 1, NOW, 0, loop,
                                    on_done, &d),
                   0);
  assert_int_equal(atomic_load(&d.calls), 1);
  sipr_store_flush(f->st);
  for (int i = 0; i < 100 && atomic_load(&d.calls) < 2; i++)
    sipr_loop_run_once(loop, 10);
  assert_int_equal(atomic_load(&d.calls), 2);
  assert_int_equal(atomic_load(&d.last_n), 2);
  /* An invalid apply completes with its error and no result. */
  c = set(NULL, NOW + 10, -1, "c", 3);
  assert_int_equal(sipr_store_apply(f->st, "sip:q@x", &c, 1, NOW, 0, NULL,
                                    on_done, &d),
                   0);
  sipr_store_flush(f->st);
  assert_int_equal(atomic_load(&d.calls), 3);
  assert_int_equal(atomic_load(&d.ok), 2);
  sipr_loop_free(loop);
}

/* ---- sqlite only ------------------------------------------------------------*/

static void test_sqlite_persist(void **state) {
  fx_t *f = *state;
  sipr_loc_change_t c[2] = {set("sip:p1", NOW + 100, 700, "cid", 7),
                            set("sip:p2", NOW + 3600, -1, "cid", 7)};
  c[0].b.path = "<sip:edge;lr>";
  c[0].b.params = ";reg-id=2";
  c[0].b.reg_id = 2;
  assert_int_equal(sipr_store_apply_sync(f->st, "sip:d@x", c, 2, NOW, 0, NULL),
                   0);
  assert_int_equal(sipr_store_cred_put(f->st, "d", "sipr", "MD5",
                                       "939e7578ed9e3c518a452acee763bce9"),
                   0);
  sipr_store_close(f->st);
  f->st = open_cfg(f, NULL);
  assert_string_equal(sipr_store_backend(f->st), "sqlite");
  /* Restart 50 s later: both back, with their remaining time. */
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_lookup(f->st, "sip:d@x", NOW + 50, &l), 0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0].contact, "sip:p2"); /* q 1.0 (missing) first */
  assert_int_equal(l.v[0].expires - (NOW + 50), 3550);
  assert_int_equal(l.v[1].expires - (NOW + 50), 50);
  assert_string_equal(l.v[1].path, "<sip:edge;lr>");
  assert_string_equal(l.v[1].params, ";reg-id=2");
  assert_int_equal(l.v[1].q, 700);
  assert_int_equal(l.v[1].cseq, 7);
  assert_int_equal(l.v[0].q, -1);
  sipr_binding_list_free(&l);
  char ha1[65];
  assert_int_equal(
      sipr_store_cred_get(f->st, "d", "sipr", "MD5", ha1, sizeof(ha1)), 0);
  /* Expire the first; the row goes too. */
  assert_int_equal(sipr_store_next_expiry(f->st), NOW + 100);
  assert_int_equal(sipr_store_expire(f->st, NOW + 100), 1);
  sipr_store_close(f->st);
  f->st = open_cfg(f, NULL);
  assert_int_equal(sipr_store_count(f->st), 1);
  /* New bindings after a restart are ordered after the old ones. */
  sipr_loc_change_t n = set("sip:p3", NOW + 3600, -1, "cid", 8);
  assert_int_equal(
      sipr_store_apply_sync(f->st, "sip:d@x", &n, 1, NOW + 60, 0, &l), 0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0].contact, "sip:p3");
  sipr_binding_list_free(&l);
}

/* A full disk (stood in for by RLIMIT_FSIZE: no file may grow, a write
 * past its end fails with EFBIG, SIGXFSZ ignored): every apply that
 * changes something fails with SIPR_EIO and changes nothing, in memory
 * or on disk; a query (no change) still answers from memory; once there
 * is room again writes succeed, and a restart finds exactly what was
 * acknowledged. */
static void test_sqlite_full_disk(void **state) {
  fx_t *f = *state;
  sipr_loc_change_t c = set("sip:a1", NOW + 3600, -1, "cid", 1);
  assert_int_equal(
      sipr_store_apply_sync(f->st, "sip:a@x", &c, 1, NOW, 0, NULL), 0);
  char wal[160];
  snprintf(wal, sizeof(wal), "%s/var/t.db-wal", f->dir);
  struct stat sb;
  assert_int_equal(stat(wal, &sb), 0);
  assert_true(sb.st_size > 0);
  struct rlimit old, full;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  full = old;
  full.rlim_cur = (rlim_t)sb.st_size;
  signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &full), 0);
  sipr_loc_change_t up[2] = {set("sip:a1", NOW + 7200, 500, "cid", 2),
                             set("sip:a2", NOW + 7200, -1, "cid", 2)};
  int rc_up = sipr_store_apply_sync(f->st, "sip:a@x", up, 2, NOW,
                                    SIPR_STORE_CHECK_CSEQ, NULL);
  sipr_loc_change_t nb = set("sip:b1", NOW + 3600, -1, "cidb", 1);
  int rc_new = sipr_store_apply_sync(f->st, "sip:b@x", &nb, 1, NOW, 0, NULL);
  sipr_binding_list_t l;
  memset(&l, 0, sizeof(l));
  int rc_query = sipr_store_apply_sync(f->st, "sip:a@x", NULL, 0, NOW,
                                       SIPR_STORE_CHECK_CSEQ, &l);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, SIG_DFL);
  assert_int_equal(rc_up, SIPR_EIO);
  assert_int_equal(rc_new, SIPR_EIO);
  assert_int_equal(rc_query, 0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0].contact, "sip:a1");
  assert_int_equal(l.v[0].cseq, 1);
  assert_int_equal(l.v[0].expires, NOW + 3600);
  sipr_binding_list_free(&l);
  assert_int_equal(nlive(f->st, "sip:b@x", NOW), 0);
  /* Room again. */
  assert_int_equal(
      sipr_store_apply_sync(f->st, "sip:b@x", &nb, 1, NOW, 0, NULL), 0);
  sipr_store_close(f->st);
  f->st = open_cfg(f, NULL);
  assert_int_equal(sipr_store_lookup(f->st, "sip:a@x", NOW, &l), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.v[0].cseq, 1);
  assert_int_equal(l.v[0].expires, NOW + 3600);
  sipr_binding_list_free(&l);
  assert_int_equal(nlive(f->st, "sip:b@x", NOW), 1);
  assert_int_equal(sipr_store_count(f->st), 2);
}

typedef struct gc_arg {
  sipr_store_t *st;
  int id;
  done_rec_t *d;
} gc_arg_t;

#define GC_PER_THREAD 250

static void *gc_thread(void *a) {
  gc_arg_t *g = a;
  for (int i = 0; i < GC_PER_THREAD; i++) {
    char aor[64];
    snprintf(aor, sizeof(aor), "sip:t%d-%d@x", g->id, i);
    sipr_loc_change_t c = set("sip:c", NOW + 1000, -1, aor, 1);
    if (sipr_store_apply(g->st, aor, &c, 1, NOW, 0, NULL, on_done, g->d) != 0)
      abort();
  }
  return NULL;
}

static void test_group_commit(void **state) {
  fx_t *f = *state;
  done_rec_t d = {0};
  pthread_t th[4];
  gc_arg_t ga[4];
  for (int i = 0; i < 4; i++) {
    ga[i] = (gc_arg_t){f->st, i, &d};
    pthread_create(&th[i], NULL, gc_thread, &ga[i]);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  sipr_store_flush(f->st);
  assert_int_equal(atomic_load(&d.ok), 4 * GC_PER_THREAD);
  sipr_store_stats_t s;
  sipr_store_get_stats(f->st, &s);
  fprintf(stderr, "group commit: %llu applies in %llu commits (max %llu)\n",
          (unsigned long long)s.applies, (unsigned long long)s.commits,
          (unsigned long long)s.max_batch);
  assert_int_equal(s.applies, 4 * GC_PER_THREAD);
  assert_true(s.commits < s.applies);
  assert_true(s.max_batch > 1);
  assert_int_equal(sipr_store_count(f->st), 4 * GC_PER_THREAD);
  sipr_store_close(f->st);
  f->st = open_cfg(f, NULL);
  assert_int_equal(sipr_store_count(f->st), 4 * GC_PER_THREAD);
}

/* The commit window (sqlite_group_us): changes queued within it share one
 * commit; a flush and a synchronous apply do not wait it out. */
static uint64_t t_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void count_done(void *arg, int rc, const sipr_binding_list_t *res) {
  (void)res;
  if (rc == 0)
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_commit_window(void **state) {
  fx_t *f = *state;
  sipr_store_close(f->st);
  sipr_store_cfg_t cfg;
  sipr_store_cfg_default(&cfg);
  assert_int_equal(cfg.sqlite_group_us, 5000);
  cfg.sqlite_group_us = 400000; /* 400 ms: far longer than any commit */
  f->st = open_cfg(f, &cfg);
  atomic_int ok = 0;
  uint64_t t0 = t_ms();
  for (int i = 0; i < 20; i++) {
    char aor[32];
    snprintf(aor, sizeof aor, "sip:w%d@x", i);
    sipr_loc_change_t c = set("sip:w@192.0.2.1", NOW + 3600, -1, "cw", 1);
    assert_int_equal(
        sipr_store_apply(f->st, aor, &c, 1, NOW, 0, NULL, count_done, &ok), 0);
  }
  usleep(50000);
  assert_int_equal(atomic_load(&ok), 0); /* still inside the window */
  sipr_store_flush(f->st);               /* cuts it short */
  assert_int_equal(atomic_load(&ok), 20);
  assert_true(t_ms() - t0 < 300);
  sipr_store_stats_t s;
  sipr_store_get_stats(f->st, &s);
  assert_int_equal(s.commits, 1); /* twenty changes, one commit */
  /* A synchronous apply commits at once too. */
  t0 = t_ms();
  sipr_loc_change_t c = set("sip:w@192.0.2.2", NOW + 3600, -1, "cw2", 1);
  assert_int_equal(
      sipr_store_apply_sync(f->st, "sip:sync@x", &c, 1, NOW, 0, NULL), 0);
  assert_true(t_ms() - t0 < 300);
  /* Without a flush, a change completes once the window has passed. */
  atomic_store(&ok, 0);
  t0 = t_ms();
  c = set("sip:w@192.0.2.3", NOW + 3600, -1, "cw3", 1);
  assert_int_equal(sipr_store_apply(f->st, "sip:late@x", &c, 1, NOW, 0, NULL,
                                    count_done, &ok),
                   0);
  while (atomic_load(&ok) == 0 && t_ms() - t0 < 5000)
    usleep(5000);
  assert_int_equal(atomic_load(&ok), 1);
  assert_true(t_ms() - t0 >= 350);
}

/* SIPR_STORE_DONE_INLINE: the memory backend runs done inside apply, even
 * with a loop given; without the flag it is posted to the loop. */
static void test_done_inline(void **state) {
  fx_t *f = *state;
  sipr_loop_t *loop = sipr_loop_new(NULL);
  assert_non_null(loop);
  atomic_int ok = 0;
  sipr_loc_change_t c = set("sip:i@192.0.2.1", NOW + 3600, -1, "in", 1);
  assert_int_equal(sipr_store_apply(f->st, "sip:i@x", &c, 1, NOW,
                                    SIPR_STORE_DONE_INLINE, loop, count_done,
                                    &ok),
                   0);
  assert_int_equal(atomic_load(&ok), 1);
  c = set("sip:i@192.0.2.2", NOW + 3600, -1, "in", 2);
  assert_int_equal(sipr_store_apply(f->st, "sip:i@x", &c, 1, NOW, 0, loop,
                                    count_done, &ok),
                   0);
  assert_int_equal(atomic_load(&ok), 1); /* posted, not run yet */
  sipr_loop_run_once(loop, 0);
  assert_int_equal(atomic_load(&ok), 2);
  sipr_loop_free(loop);
}

/* Child: applies bindings as fast as it can (at most 64 in flight) and
 * writes each acknowledged index to the pipe from the completion. */
static int crash_fd;
static atomic_int crash_inflight;

static void crash_done(void *arg, int rc, const sipr_binding_list_t *res) {
  int idx = (int)(intptr_t)arg;
  if (rc == 0 && res && res->n == 1)
    if (write(crash_fd, &idx, sizeof(idx)) != sizeof(idx))
      _exit(3);
  atomic_fetch_sub(&crash_inflight, 1);
}

static void crash_child(const char *spec) {
  sipr_store_t *st = sipr_store_open(spec, NULL, NULL, 0);
  if (!st)
    _exit(2);
  for (int i = 0;; i++) {
    while (atomic_load(&crash_inflight) >= 64)
      usleep(100);
    char aor[64];
    snprintf(aor, sizeof(aor), "sip:k%d@x", i);
    sipr_loc_change_t c = set("sip:k", NOW + 3600, -1, aor, 1);
    atomic_fetch_add(&crash_inflight, 1);
    if (sipr_store_apply(st, aor, &c, 1, NOW, 0, NULL, crash_done,
                         (void *)(intptr_t)i) != 0)
      _exit(4);
  }
}

static void test_crash(void **state) {
  fx_t *f = *state;
  sipr_store_close(f->st); /* the child owns the database */
  f->st = NULL;
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    crash_fd = p[1];
    crash_child(f->spec);
    _exit(0);
  }
  close(p[1]);
  struct timespec ts = {0, 300 * 1000000L};
  nanosleep(&ts, NULL);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status));
  size_t cap = 1024, n = 0;
  int *acked = malloc(cap * sizeof(int));
  int idx;
  while (read(p[0], &idx, sizeof(idx)) == (ssize_t)sizeof(idx)) {
    if (n == cap)
      acked = realloc(acked, (cap *= 2) * sizeof(int));
    acked[n++] = idx;
  }
  close(p[0]);
  fprintf(stderr, "crash: %zu bindings acknowledged before kill -9\n", n);
  assert_true(n > 0);
  f->st = open_cfg(f, NULL);
  size_t missing = 0;
  for (size_t i = 0; i < n; i++) {
    char aor[64];
    snprintf(aor, sizeof(aor), "sip:k%d@x", acked[i]);
    if (nlive(f->st, aor, NOW) != 1)
      missing++;
  }
  free(acked);
  assert_int_equal(missing, 0);
  assert_true(sipr_store_count(f->st) >= n);
}

static void test_open_errors(void **state) {
  (void)state;
  char err[128] = "";
  assert_null(sipr_store_open("redis:x", NULL, err, sizeof(err)));
  assert_non_null(strstr(err, "unknown store"));
  assert_null(sipr_store_open("sqlite:/nonexistent-dir/a/b.db", NULL, err,
                              sizeof(err)));
  assert_true(err[0] != '\0');
  sipr_store_close(NULL);
}

#define BOTH(t)                                                                \
  cmocka_unit_test_setup_teardown(t, setup_mem, teardown),                     \
      cmocka_unit_test_setup_teardown(t, setup_sql, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      BOTH(test_add_lookup),
      BOTH(test_update_order_remove),
      BOTH(test_cseq_atomic),
      BOTH(test_caps),
      BOTH(test_expiry),
      BOTH(test_list),
      BOTH(test_creds),
      BOTH(test_async),
      cmocka_unit_test_setup_teardown(test_sqlite_persist, setup_sql, teardown),
      cmocka_unit_test_setup_teardown(test_sqlite_full_disk, setup_sql,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_group_commit, setup_sql, teardown),
      cmocka_unit_test_setup_teardown(test_commit_window, setup_sql, teardown),
      cmocka_unit_test_setup_teardown(test_done_inline, setup_mem, teardown),
      cmocka_unit_test_setup_teardown(test_crash, setup_sql, teardown),
      cmocka_unit_test(test_open_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
