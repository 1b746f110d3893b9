/* msg: being written */
