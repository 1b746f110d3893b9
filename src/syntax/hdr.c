/* hdr: being written */
