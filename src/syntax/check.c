/* check: being written */
