/*
 * The `sipr` command: what main.c and the subcommands share.
 *
 * Every subcommand is one function with the signature of sipr_cli_fn and
 * one line in the table in main.c. It receives argv starting at its own
 * name (argv[0] == "parse"), handles its own --help, and returns the exit
 * status (docs/ARCHITECTURE.md, "The command").
 */
#ifndef SIPR_CLI_H
#define SIPR_CLI_H

/* Exit statuses: the contract of every subcommand. */
#define SIPR_EXIT_OK 0    /* success */
#define SIPR_EXIT_FAIL 1  /* a protocol or input failure, reason on stderr */
#define SIPR_EXIT_USAGE 2 /* bad command line */

typedef int sipr_cli_fn(int argc, char **argv);

/* Prints "sipr CMD: <message>" and a hint to run --help on stderr;
 * returns SIPR_EXIT_USAGE so a subcommand can `return` it. */
int sipr__cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Subcommands (one file each). */
int sipr__cli_parse(int argc, char **argv);
int sipr__cli_serve(int argc, char **argv);
int sipr__cli_user(int argc, char **argv);
/* cmd_ua.c: the user-agent commands */
int sipr__cli_ping(int argc, char **argv);
int sipr__cli_register(int argc, char **argv);
int sipr__cli_message(int argc, char **argv);
int sipr__cli_call(int argc, char **argv);
int sipr__cli_answer(int argc, char **argv);

#endif
