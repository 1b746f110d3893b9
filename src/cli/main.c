/*
 * sipr: one command, many subcommands (docs/ARCHITECTURE.md, "The
 * command"). This file only dispatches: a subcommand is one line in
 * `commands` below and one function in its own cmd_*.c file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef SIPR_VERSION
#define SIPR_VERSION "0.1.0"
#endif

typedef struct sipr_cli_cmd {
  const char *name;
  sipr_cli_fn *run;
  const char *args;    /* synopsis after the name, for the usage text */
  const char *summary; /* one line */
} sipr_cli_cmd_t;

/* Adding a subcommand (serve, ping, register, call, message, user, ctl)
 * is one line here plus its prototype in cli.h. */
static const sipr_cli_cmd_t commands[] = {
    {"parse", sipr__cli_parse, "[FILE|-]",
     "parse one SIP message, print it as JSON"},
    {"serve", sipr__cli_serve, "[OPTIONS]", "run the SIP server (registrar)"},
    {"user", sipr__cli_user, "add|del|list", "manage digest credentials"},
    {"ping", sipr__cli_ping, "URI", "send OPTIONS, print status and round-trip time"},
    {"register", sipr__cli_register, "--aor AOR", "register a contact (and keep it)"},
    {"message", sipr__cli_message, "URI TEXT", "send a MESSAGE"},
    {"call", sipr__cli_call, "URI", "place a call: INVITE, ACK, hold, BYE"},
    {"answer", sipr__cli_answer, "[--aor AOR]", "answer calls, print MESSAGEs"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out,
          "usage: sipr COMMAND [ARGS]...\n"
          "       sipr --help | --version\n"
          "\n"
          "commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-8s %-12s %s\n", commands[i].name, commands[i].args,
            commands[i].summary);
  fprintf(out,
          "\n"
          "Run 'sipr COMMAND --help' for a command's options.\n"
          "Exit status: 0 success, 1 protocol or input failure, 2 usage.\n");
}

int sipr__cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "sipr%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'sipr%s%s --help'.\n", cmd ? " " : "",
          cmd ? cmd : "");
  return SIPR_EXIT_USAGE;
}

/* Flushes stdout and reports a failed write (a full disk, a closed pipe):
 * a command whose output was lost has not succeeded. */
static int finish(int rc) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "sipr: cannot write to standard output\n");
    if (rc == SIPR_EXIT_OK)
      rc = SIPR_EXIT_FAIL;
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return SIPR_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    usage(stdout);
    return finish(SIPR_EXIT_OK);
  }
  if (strcmp(name, "--version") == 0) {
    printf("sipr %s\n", SIPR_VERSION);
    return finish(SIPR_EXIT_OK);
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(name, commands[i].name) == 0)
      return finish(commands[i].run(argc - 1, argv + 1));

  if (name[0] == '-')
    fprintf(stderr, "sipr: unknown option '%s'\n\n", name);
  else
    fprintf(stderr, "sipr: unknown command '%s'\n\n", name);
  usage(stderr);
  return SIPR_EXIT_USAGE;
}
