/** One problem in one workflow file, located by JSON pointer. */
export class WorkflowError {
  constructor(
    readonly file: string,
    /** JSON pointer ("/jobs/analyze/every"); "/" for the whole file. */
    readonly pointer: string,
    readonly message: string,
  ) {}

  toString(): string {
    return `${this.file}: ${this.pointer || '/'}: ${this.message}`;
  }
}
