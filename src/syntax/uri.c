/* uri: being written */
