/* print: being written */
