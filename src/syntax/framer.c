/* framer: being written */
